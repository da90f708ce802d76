// Optimizer updates as element-wise kernels over a parameter's flat data,
// in chunks of at most 2^24 elements (see launch.ts). AdamW, as PyTorch
// computes it (GEMMA2.md, "AdamW"), in three passes:
//   m' = b1 m + (1 - b1) g
//   v' = b2 v + (1 - b2) g^2
//   p' = p (1 - lr wd) - stepSize m' / (sqrt(v') / sqrt(1 - b2^t) + eps),  stepSize = lr / (1 - b1^t)
// SGD with momentum (PyTorch's), in two:
//   b' = momentum b + (1 - dampening) g'        g' = g + wd p
//   p' = p - lr d,   d = b' (or g' + momentum b' with Nesterov)
// On the CPU path (kernels/simd.ts) AdamW runs as one SIMD pass
// (wasm/adamw.ts) and SGD as one JavaScript loop that rounds every step to
// float32 (Math.fround) in the kernels' order: the webasm kernels' bits,
// without launches that each copy four arrays in and out.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch, recordLaunch, type KernelSource } from './launch.ts';
import { useSimdKernels } from './simd.ts';
import { simdAdamW } from './wasm/adamw.ts';

function adamwFirstMoment(this: any, M: number[], G: number[], beta1: number): number {
  return beta1 * M[this.thread.x] + (1 - beta1) * G[this.thread.x];
}

function adamwSecondMoment(this: any, V: number[], G: number[], beta2: number): number {
  const g = G[this.thread.x];
  return beta2 * V[this.thread.x] + (1 - beta2) * g * g;
}

function adamwParameter(this: any, P: number[], M: number[], V: number[], decay: number, stepSize: number, correction2Sqrt: number, eps: number): number {
  const denominator = Math.sqrt(V[this.thread.x]) / correction2Sqrt + eps;
  return P[this.thread.x] * decay - (stepSize * M[this.thread.x]) / denominator;
}

function sgdMomentumBuffer(this: any, B: number[], G: number[], P: number[], momentum: number, dampening: number, weightDecay: number): number {
  const g = G[this.thread.x] + weightDecay * P[this.thread.x];
  return momentum * B[this.thread.x] + (1 - dampening) * g;
}

function sgdParameter(this: any, P: number[], G: number[], B: number[], lr: number, weightDecay: number, momentum: number, nesterov: number): number {
  const g = G[this.thread.x] + weightDecay * P[this.thread.x];
  let direction = B[this.thread.x];
  if (nesterov !== 0) {
    direction = g + momentum * B[this.thread.x];
  }
  return P[this.thread.x] - lr * direction;
}

/** Runs a flat kernel over same-length arrays in chunks of at most 2^24 elements. */
function runFlat(name: string, source: KernelSource, arrays: TypedData[], scalars: number[]): Float32Array {
  const total = arrays[0].length;
  const out = new Float32Array(total);
  for (let start = 0; start < total; start += MAX_KERNEL_AXIS) {
    const length = Math.min(MAX_KERNEL_AXIS, total - start);
    const args = arrays.map((a) => boxed(a.subarray(start, start + length) as TypedData, [length, 1, 1]));
    out.set(launch({ name, source, output: [length, 1, 1], args: [...args, ...scalars] }), start);
  }
  return out;
}

export interface AdamWStep {
  beta1: number;
  beta2: number;
  /** 1 - lr * weight_decay */
  decay: number;
  /** lr / (1 - beta1^t) */
  stepSize: number;
  /** sqrt(1 - beta2^t) */
  correction2Sqrt: number;
  eps: number;
}

/**
 * One AdamW step for one parameter: the new parameter and moments. On the CPU
 * path they are written over p, m and v in place (and those arrays returned):
 * fresh arrays of a model's size cost more in page faults than the update.
 */
export function runAdamW(p: TypedData, g: TypedData, m: TypedData, v: TypedData, s: AdamWStep): { p: Float32Array; m: Float32Array; v: Float32Array } {
  if (useSimdKernels()) return hostAdamW(p, g, m, v, s);
  const m2 = runFlat('adamw.firstMoment', adamwFirstMoment, [m, g], [s.beta1]);
  const v2 = runFlat('adamw.secondMoment', adamwSecondMoment, [v, g], [s.beta2]);
  const p2 = runFlat('adamw.parameter', adamwParameter, [p, m2, v2], [s.decay, s.stepSize, s.correction2Sqrt, s.eps]);
  return { p: p2, m: m2, v: v2 };
}

export interface SgdStep {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/**
 * One SGD step for one parameter with a momentum buffer (pass b = g for the
 * first step, as PyTorch starts it). On the CPU path p is updated in place and
 * the buffer is a fresh array (b may be the gradient itself).
 */
export function runSgd(p: TypedData, g: TypedData, b: TypedData, s: SgdStep, firstStep: boolean): { p: Float32Array; b: Float32Array } {
  if (useSimdKernels()) return hostSgd(p, g, b, s, firstStep);
  // PyTorch's first step takes the buffer to be g' itself, undamped.
  const b2 = firstStep
    ? runFlat('sgd.momentumBuffer', sgdMomentumBuffer, [b, g, p], [0, 0, s.weightDecay])
    : runFlat('sgd.momentumBuffer', sgdMomentumBuffer, [b, g, p], [s.momentum, s.dampening, s.weightDecay]);
  const p2 = runFlat('sgd.parameter', sgdParameter, [p, g, b2], [s.lr, s.weightDecay, s.momentum, s.nesterov ? 1 : 0]);
  return { p: p2, b: b2 };
}

const f = Math.fround;

/** runAdamW's three kernels fused into one float32-exact pass, in place: SIMD over whole vectors, a loop over the last n mod 4 values. */
function hostAdamW(p: TypedData, g: TypedData, m: TypedData, v: TypedData, s: AdamWStep): { p: Float32Array; m: Float32Array; v: Float32Array } {
  const started = performance.now();
  const vectorized = p.length - (p.length % 4);
  simdAdamW(p, g, m, v, vectorized, s);
  // the kernels see their scalar arguments as float32
  const [beta1, beta2, decay, stepSize, correction2Sqrt, eps] = [s.beta1, s.beta2, s.decay, s.stepSize, s.correction2Sqrt, s.eps].map(f);
  const [keep1, keep2] = [f(1 - beta1), f(1 - beta2)];
  for (let i = vectorized; i < p.length; i++) {
    const gi = g[i];
    const mi = f(f(beta1 * m[i]) + f(keep1 * gi));
    const vi = f(f(beta2 * v[i]) + f(f(keep2 * gi) * gi));
    const denominator = f(f(f(Math.sqrt(vi)) / correction2Sqrt) + eps);
    p[i] = f(f(p[i] * decay) - f(f(stepSize * mi) / denominator));
    m[i] = mi;
    v[i] = vi;
  }
  recordLaunch('adamw.step', 'wasm-simd', performance.now() - started);
  return { p: p as Float32Array, m: m as Float32Array, v: v as Float32Array };
}

/** runSgd's two kernels fused into one float32-exact loop; p in place. */
function hostSgd(p: TypedData, g: TypedData, b: TypedData, s: SgdStep, firstStep: boolean): { p: Float32Array; b: Float32Array } {
  const started = performance.now();
  const [momentum, lr, weightDecay] = [s.momentum, s.lr, s.weightDecay].map(f);
  // PyTorch's first step takes the buffer to be g' itself, undamped (momentum 0, dampening 0)
  const [bufferMomentum, keep] = firstStep ? [0, 1] : [momentum, f(1 - f(s.dampening))];
  const b2 = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const gi = f(g[i] + f(weightDecay * p[i]));
    const bi = f(f(bufferMomentum * b[i]) + f(keep * gi));
    const direction = s.nesterov ? f(gi + f(momentum * bi)) : bi;
    p[i] = f(p[i] - f(lr * direction));
    b2[i] = bi;
  }
  recordLaunch('sgd.step', 'host-loop', performance.now() - started);
  return { p: p as Float32Array, b: b2 };
}
