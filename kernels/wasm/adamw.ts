// AdamW on WebAssembly SIMD for the CPU path: the update of kernels/optimizer.ts
// (ADAMW, from which its GPU.js kernels are generated) in one pass over four
// floats at a time, updating the parameter and both moments in place,
//   m' = b1 m + (1 - b1) g
//   v' = b2 v + ((1 - b2) g) g
//   p' = p decay - (stepSize m') / (sqrt(v') / sqrt(1 - b2^t) + eps)
// each operation a float32 one, in the kernels' order, so the results are
// the webasm kernels' bits. (A JavaScript loop computes the same with
// Math.fround at every step, at about 11 ns per parameter here: the
// double-precision square root and divisions dominate.)
//
// Arrays that live in wasm memory (resident weights) are updated where they
// are; the others are copied into scratch and back.

import type { TypedData } from '../../lib/tensor/dtype.ts';
import { I32, V128, buildModule, op } from './module-builder.ts';
import { MAX_PAGES, residentOffset, scratch, sharedMemory, wasm } from './memory.ts';
import { parallel, registerModule } from './threads.ts';

const get = op.localGet;
const set = op.localSet;

/** The scalars of one AdamW step (kernels/optimizer.ts). */
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

/** adamw(p, g, m, v, vectors, scalars): scalars points at beta1, beta2, 1 - beta1, 1 - beta2, decay, stepSize, sqrt(1 - beta2^t), eps. */
function adamwKernel() {
  const [P, G, M, V, VECTORS, SCALARS] = [0, 1, 2, 3, 4, 5];
  const [OFFSET, END] = [6, 7];
  const [B1, B2, K1, K2, DECAY, STEP, C2, EPS] = [8, 9, 10, 11, 12, 13, 14, 15];
  const [GV, MV, VV] = [16, 17, 18];
  const at = (ptr: number) => [...get(ptr), ...get(OFFSET), ...op.i32Add];
  const code: number[] = [];
  [B1, B2, K1, K2, DECAY, STEP, C2, EPS].forEach((local, i) => code.push(...get(SCALARS), ...op.v128Load32Splat(4 * i), ...set(local)));
  code.push(...get(VECTORS), ...op.i32Const(16), ...op.i32Mul, ...set(END), ...op.i32Const(0), ...set(OFFSET));
  code.push(...op.blockLoop, ...get(OFFSET), ...get(END), ...op.i32GeU, ...op.breakIfOutOfLoop);
  code.push(...at(G), ...op.v128Load(0), ...set(GV));
  // m' = b1 m + (1 - b1) g
  code.push(...get(B1), ...at(M), ...op.v128Load(0), ...op.f32x4Mul, ...get(K1), ...get(GV), ...op.f32x4Mul, ...op.f32x4Add, ...set(MV));
  // v' = b2 v + ((1 - b2) g) g
  code.push(...get(B2), ...at(V), ...op.v128Load(0), ...op.f32x4Mul, ...get(K2), ...get(GV), ...op.f32x4Mul, ...get(GV), ...op.f32x4Mul, ...op.f32x4Add, ...set(VV));
  code.push(...at(M), ...get(MV), ...op.v128Store(0), ...at(V), ...get(VV), ...op.v128Store(0));
  // p' = p decay - (stepSize m') / (sqrt(v') / c2 + eps)
  code.push(...at(P), ...at(P), ...op.v128Load(0), ...get(DECAY), ...op.f32x4Mul);
  code.push(...get(STEP), ...get(MV), ...op.f32x4Mul, ...get(VV), ...op.f32x4Sqrt, ...get(C2), ...op.f32x4Div, ...get(EPS), ...op.f32x4Add, ...op.f32x4Div);
  code.push(...op.f32x4Sub, ...op.v128Store(0));
  code.push(...get(OFFSET), ...op.i32Const(16), ...op.i32Add, ...set(OFFSET), ...op.continueLoop, ...op.end, ...op.end);
  return { name: 'adamw', params: 6, locals: [[2, I32], [11, V128]] as [number, number][], body: code };
}

type AdamWFn = (p: number, g: number, m: number, v: number, vectors: number, scalars: number) => void;
let kernel: AdamWFn | null = null;

function getKernel(): AdamWFn {
  if (kernel === null) {
    const spec = adamwKernel();
    const module = new wasm.Module(buildModule([spec], MAX_PAGES));
    kernel = (new wasm.Instance(module, { env: { memory: sharedMemory() } }).exports as Record<string, AdamWFn>).adamw;
    registerModule(module, [spec.name]);
  }
  return kernel;
}

/** Parameters below this many values stay on the main thread. */
const THREADING_THRESHOLD = 1 << 16;

/**
 * Updates p, m and v in place over their first `count` values (a multiple
 * of 4; the caller does the rest).
 */
export function simdAdamW(p: TypedData, g: TypedData, m: TypedData, v: TypedData, count: number, s: AdamWStep): void {
  const f = Math.fround;
  const scalars = [s.beta1, s.beta2, f(1 - f(s.beta1)), f(1 - f(s.beta2)), s.decay, s.stepSize, s.correction2Sqrt, s.eps];
  const arrays = [p, g, m, v];
  const offsets = arrays.map(residentOffset);
  const copied = offsets.filter((o) => o < 0).length;
  const { memory, base } = scratch(8 + copied * count);
  memory.set(scalars, base);
  let next = base + 8;
  const at = arrays.map((array, i) => {
    if (offsets[i] >= 0) return offsets[i];
    memory.set(array.subarray(0, count), next);
    next += count;
    return next - count;
  });
  const run = getKernel();
  const args = (first: number, end: number) => [...at.map((a) => 4 * (a + 4 * first)), end - first, 4 * base];
  parallel(count / 4, count >= THREADING_THRESHOLD, (first, end) => [{ fn: 'adamw', args: args(first, end) }], (first, end) => run(...(args(first, end) as Parameters<AdamWFn>)));
  // copy back what was copied in (the gradient is only read)
  for (const i of [0, 2, 3]) if (offsets[i] < 0) arrays[i].set(memory.subarray(at[i], at[i] + count));
}
