// Optimizer updates over a parameter's flat data. Each optimizer is written
// once, as per-element updates with f32 marks where float32 rounds
// (kernels/formula.ts), and both compute paths are generated from it:
//   gpujs  one GPU.js kernel per updated array, in order (a later update reads
//          the earlier ones' new values), in chunks of at most 2^24 elements
//          (see launch.ts)
//   cpu    one JavaScript loop doing every update per element, rounding where
//          the marks say: the webasm kernels' bits without launches that each
//          copy four arrays in and out. AdamW's loop runs only the last
//          n mod 4 values: the rest is its hand-written SIMD kernel
//          (wasm/adamw.ts, pinned to this definition by the registry test).
//
// AdamW, as PyTorch computes it (GEMMA2.md, "AdamW"):
//   m' = b1 m + (1 - b1) g
//   v' = b2 v + (1 - b2) g^2
//   p' = p (1 - lr wd) - stepSize m' / (sqrt(v') / sqrt(1 - b2^t) + eps),  stepSize = lr / (1 - b1^t)
// SGD with momentum (PyTorch's):
//   b' = momentum b + (1 - dampening) g'        g' = g + wd p
//   p' = p - lr d,   d = b' (or g' + momentum b' with Nesterov)

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';
import { compileHostLoop, forGpuJs, forHost } from './formula.ts';
import { type AdamWStep, simdAdamW } from './wasm/adamw.ts';

export type { AdamWStep } from './wasm/adamw.ts';

/** Per-element updates over same-length arrays: each update gives one array its new value. */
interface ElementUpdates {
  arrays: string[];
  scalars: string[];
  /** Values computed before the updates (each an expression of arrays and scalars). */
  locals?: [name: string, formula: string][];
  /** In order; a later formula reads the new value of an array updated before it. */
  updates: [array: string, formula: string][];
}

export const ADAMW: ElementUpdates = {
  arrays: ['p', 'g', 'm', 'v'],
  // decay = 1 - lr wd; stepSize = lr / (1 - b1^t); correction2Sqrt = sqrt(1 - b2^t)
  scalars: ['beta1', 'beta2', 'decay', 'stepSize', 'correction2Sqrt', 'eps'],
  updates: [
    ['m', 'f32(f32(beta1 * m) + f32(f32(1 - beta1) * g))'],
    ['v', 'f32(f32(beta2 * v) + f32(f32(f32(1 - beta2) * g) * g))'],
    ['p', 'f32(f32(p * decay) - f32(f32(stepSize * m) / f32(f32(f32(Math.sqrt(v)) / correction2Sqrt) + eps)))'],
  ],
};

export const SGD: ElementUpdates = {
  arrays: ['p', 'g', 'b'],
  // bufferMomentum and dampening are 0 on PyTorch's first step, whose buffer is g' itself
  scalars: ['lr', 'momentum', 'bufferMomentum', 'dampening', 'weightDecay', 'nesterov'],
  locals: [['gd', 'f32(g + f32(weightDecay * p))']],
  updates: [
    ['b', 'f32(f32(bufferMomentum * b) + f32(f32(1 - dampening) * gd))'],
    ['p', 'f32(p - f32(lr * (nesterov !== 0 ? f32(gd + f32(momentum * b)) : b)))'],
  ],
};

const mentions = (text: string, name: string) => new RegExp(`\\b${name}\\b`).test(text);
const arrayName = (name: string) => name.toUpperCase();

/** One GPU.js kernel per update: reads the arrays and scalars its formula (and the locals it uses) mention. */
function gpujsUpdates(family: string, def: ElementUpdates) {
  const kernels = def.updates.map(([target, formula]) => {
    const locals = (def.locals ?? []).filter(([name]) => mentions(formula, name));
    const text = [...locals.map(([, f]) => f), formula].join(' ');
    const arrays = def.arrays.filter((a) => mentions(text, a));
    const scalars = def.scalars.filter((s) => mentions(text, s));
    const source = `function(${[...arrays.map(arrayName), ...scalars].join(', ')}) {
  ${arrays.map((a) => `const ${a} = ${arrayName(a)}[this.thread.x];`).join('\n  ')}
  ${locals.map(([name, f]) => `const ${name} = ${forGpuJs(f)};`).join('\n  ')}
  return ${forGpuJs(formula)};
}`;
    return { name: `${family}.${target}`, target, arrays, scalars, source };
  });
  /** The updated arrays (fresh); `values` maps each array name to its data, each scalar name to its value. */
  return (data: Record<string, TypedData>, values: Record<string, number>): Record<string, Float32Array> => {
    const current: Record<string, TypedData> = { ...data };
    const updated: Record<string, Float32Array> = {};
    const total = data[def.arrays[0]].length;
    for (const kernel of kernels) {
      const out = new Float32Array(total);
      for (let start = 0; start < total; start += MAX_KERNEL_AXIS) {
        const length = Math.min(MAX_KERNEL_AXIS, total - start);
        const args = kernel.arrays.map((a) => boxed(current[a].subarray(start, start + length) as TypedData, [length, 1, 1]));
        out.set(launch({ name: kernel.name, source: kernel.source, output: [length, 1, 1], args: [...args, ...kernel.scalars.map((s) => values[s])] }), start);
      }
      current[kernel.target] = updated[kernel.target] = out;
    }
    return updated;
  };
}

type HostUpdates = (inputs: TypedData[], outputs: TypedData[], scalars: number[], start: number, end: number) => void;

/** One loop over [start, end) doing every update per element; outputs[k] receives updates[k]'s array (in place when it is the input). */
function hostUpdates(def: ElementUpdates): HostUpdates {
  return compileHostLoop<HostUpdates>(
    ['inputs', 'outputs', 'scalars', 'start', 'end'],
    `const [${def.arrays.map(arrayName).join(', ')}] = inputs;
    const [${def.updates.map(([a]) => `${arrayName(a)}_OUT`).join(', ')}] = outputs;
    const [${def.scalars.join(', ')}] = scalars.map(Math.fround); // kernels see scalar arguments as float32
    for (let i = start; i < end; i++) {
      ${def.arrays.map((a) => `let ${a} = ${arrayName(a)}[i];`).join(' ')}
      ${(def.locals ?? []).map(([name, f]) => `const ${name} = ${forHost(f)};`).join(' ')}
      ${def.updates.map(([a, f]) => `${a} = ${forHost(f)};`).join(' ')}
      ${def.updates.map(([a]) => `${arrayName(a)}_OUT[i] = ${a};`).join(' ')}
    }`,
  );
}

const adamwOnGpuJs = gpujsUpdates('adamw', ADAMW);
const adamwOnHost = hostUpdates(ADAMW);

const adamw = defineKernel({
  name: 'adamw.step',
  gpujs: (p: TypedData, g: TypedData, m: TypedData, v: TypedData, s: AdamWStep) => {
    const out = adamwOnGpuJs({ p, g, m, v }, { ...s });
    return { p: out.p, m: out.m, v: out.v };
  },
  cpu: {
    kind: 'wasm-simd',
    // in place: fresh arrays of a model's size cost more in page faults than the update
    run: (p: TypedData, g: TypedData, m: TypedData, v: TypedData, s: AdamWStep) => {
      const vectorized = p.length - (p.length % 4);
      simdAdamW(p, g, m, v, vectorized, s);
      adamwOnHost([p, g, m, v], [m, v, p], [s.beta1, s.beta2, s.decay, s.stepSize, s.correction2Sqrt, s.eps], vectorized, p.length);
      return { p: p as Float32Array, m: m as Float32Array, v: v as Float32Array };
    },
  },
  agreement: 'same-bits',
});

/**
 * One AdamW step for one parameter: the new parameter and moments. On the CPU
 * path they are written over p, m and v in place (and those arrays returned).
 */
export function runAdamW(p: TypedData, g: TypedData, m: TypedData, v: TypedData, s: AdamWStep): { p: Float32Array; m: Float32Array; v: Float32Array } {
  return adamw(p, g, m, v, s);
}

export interface SgdStep {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** The SGD formula's scalars for this step (PyTorch's first step takes the buffer to be g' itself, undamped). */
function sgdScalars(s: SgdStep, firstStep: boolean): Record<string, number> {
  return {
    lr: s.lr,
    momentum: s.momentum,
    bufferMomentum: firstStep ? 0 : s.momentum,
    dampening: firstStep ? 0 : s.dampening,
    weightDecay: s.weightDecay,
    nesterov: s.nesterov ? 1 : 0,
  };
}

const sgdOnGpuJs = gpujsUpdates('sgd', SGD);
const sgdOnHost = hostUpdates(SGD);

const sgd = defineKernel({
  name: 'sgd.step',
  gpujs: (p: TypedData, g: TypedData, b: TypedData, s: SgdStep, firstStep: boolean) => {
    const out = sgdOnGpuJs({ p, g, b }, sgdScalars(s, firstStep));
    return { p: out.p, b: out.b };
  },
  cpu: {
    kind: 'host-loop',
    // p in place; the buffer is a fresh array (on the first step b is the gradient itself)
    run: (p: TypedData, g: TypedData, b: TypedData, s: SgdStep, firstStep: boolean) => {
      const buffer = new Float32Array(p.length);
      const scalars = sgdScalars(s, firstStep);
      sgdOnHost([p, g, b], [buffer, p], SGD.scalars.map((name) => scalars[name]), 0, p.length);
      return { p: p as Float32Array, b: buffer };
    },
  },
  agreement: 'same-bits',
});

/**
 * One SGD step for one parameter with a momentum buffer (pass b = g for the
 * first step, as PyTorch starts it). On the CPU path p is updated in place and
 * the buffer is a fresh array.
 */
export function runSgd(p: TypedData, g: TypedData, b: TypedData, s: SgdStep, firstStep: boolean): { p: Float32Array; b: Float32Array } {
  return sgd(p, g, b, s, firstStep);
}
