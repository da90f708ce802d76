// Reductions along one axis. The input is contiguous and viewed as
// [outer, length, inner] (the reduced axis in the middle); one thread per
// (outer, inner) output cell loops over the axis:
//   input box  [inner, length, outer]   read as A[outer][i][inner]
//   output box [inner, outer, 1]
// Outer blocks larger than 2^24 rows are launched in chunks.
//
// Sums (and the log-sum-exp's sum of exponentials) run in the cascade order of
// sum-order.ts. On the CPU path (kernels/simd.ts) a log-sum-exp along the last
// axis runs on the SIMD kernel of wasm/vector-math.ts and every other reduction
// as a plain loop (hostReduction below) that keeps the kernels' float32 steps,
// each partial sum rounded to float32 in the same order, so its results are the
// webasm kernel's bits.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch, recordLaunch, type KernelSource } from './launch.ts';
import { useSimdKernels } from './simd.ts';
import { simdLogSumExpRows } from './wasm/vector-math.ts';
import { cascadeKernel, cascadeSum } from './sum-order.ts';

const sumAlongAxis = cascadeKernel({ params: 'A', length: 'this.constants.length', term: 'A[this.thread.y][i][this.thread.x]' });

// NaN wins, as in PyTorch: once m is NaN no comparison replaces it.
function maxAlongAxis(this: any, A: number[][][]): number {
  let m = A[this.thread.y][0][this.thread.x];
  for (let i = 1; i < this.constants.length; i++) {
    const v = A[this.thread.y][i][this.thread.x];
    if (v > m || v !== v) {
      m = v;
    }
  }
  return m;
}

// Index of the first maximum (the first NaN if there is one), as a float:
// exact because the axis length is at most 2^24.
function argmaxAlongAxis(this: any, A: number[][][]): number {
  let m = A[this.thread.y][0][this.thread.x];
  let index = 0;
  for (let i = 1; i < this.constants.length; i++) {
    const v = A[this.thread.y][i][this.thread.x];
    if ((v > m || v !== v) && m === m) {
      m = v;
      index = i;
    }
  }
  return index;
}

// log(sum(exp(x))) computed stably as m + log(sum(exp(x - m))), m = max(x).
// As in PyTorch, a row that is all -inf (fully masked) gives -inf and a row
// holding +inf gives +inf, instead of the NaN of inf - inf; NaN still wins.
const logSumExpAlongAxis = cascadeKernel({
  params: 'A',
  setup: `let m = A[this.thread.y][0][this.thread.x];
  for (let j = 1; j < this.constants.length; j++) {
    m = Math.max(m, A[this.thread.y][j][this.thread.x]);
  }
  if (m === -Infinity || m === Infinity) {
    return m;
  }`,
  length: 'this.constants.length',
  term: 'Math.exp(A[this.thread.y][i][this.thread.x] - m)',
  finish: 'return m + Math.log(sum);',
});

export const REDUCTIONS = {
  sum: sumAlongAxis,
  max: maxAlongAxis,
  argmax: argmaxAlongAxis,
  logSumExp: logSumExpAlongAxis,
} satisfies Record<string, KernelSource>;

export type Reduction = keyof typeof REDUCTIONS;

/**
 * Reduces `data` (contiguous [outer, length, inner]) along the middle axis.
 * Returns outer*inner values, row-major [outer, inner].
 */
export function runReduction(kind: Reduction, data: TypedData, outer: number, length: number, inner: number): Float32Array {
  if (kind === 'logSumExp' && inner === 1 && useSimdKernels()) {
    // rows along the last axis: the SIMD kernel of wasm/vector-math.ts (lane-parallel sums)
    const started = performance.now();
    const out = simdLogSumExpRows(data, outer, length);
    recordLaunch('reduce.logSumExp', 'wasm-simd', performance.now() - started);
    return out;
  }
  if (useSimdKernels()) {
    const started = performance.now();
    const out = hostReduction(kind, data, outer, length, inner);
    recordLaunch(`reduce.${kind}`, 'host-loop', performance.now() - started);
    return out;
  }
  const out = new Float32Array(outer * inner);
  const rowsPerLaunch = MAX_KERNEL_AXIS;
  for (let start = 0; start < outer; start += rowsPerLaunch) {
    const rows = Math.min(rowsPerLaunch, outer - start);
    const chunk = data.subarray(start * length * inner, (start + rows) * length * inner) as TypedData;
    const result = launch({
      name: `reduce.${kind}`,
      source: REDUCTIONS[kind],
      output: [inner, rows, 1],
      args: [boxed(chunk, [inner, length, rows])],
      constants: { length },
    });
    out.set(result, start * inner);
  }
  return out;
}

/**
 * The reductions above as loops over [outer, length, inner], walking each
 * outer block row by row (so reads are sequential) with one running value
 * per inner position, updated in the kernels' order and float32 rounding.
 */
function hostReduction(kind: Reduction, data: TypedData, outer: number, length: number, inner: number): Float32Array {
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    const block = o * length * inner;
    for (let j = 0; j < inner; j++) out[o * inner + j] = REDUCE_ONE[kind](data, block + j, length, inner);
  }
  return out;
}

const f = Math.fround;

/** One output: the `length` values data[start], data[start + step], ... */
const REDUCE_ONE: Record<Reduction, (data: TypedData, start: number, length: number, step: number) => number> = {
  sum: cascadeSum,
  // NaN wins: once m is NaN no comparison replaces it
  max(data, start, length, step) {
    let m = data[start];
    for (let i = 1, at = start + step; i < length; i++, at += step) if (data[at] > m || data[at] !== data[at]) m = data[at];
    return m;
  },
  argmax(data, start, length, step) {
    let m = data[start];
    let index = 0;
    for (let i = 1, at = start + step; i < length; i++, at += step) {
      const v = data[at];
      if ((v > m || v !== v) && m === m) {
        m = v;
        index = i;
      }
    }
    return index;
  },
  logSumExp(data, start, length, step) {
    const m = REDUCE_ONE.max(data, start, length, step);
    if (!Number.isFinite(m)) return m; // -inf (all masked), +inf, or NaN
    const exps = new Float32Array(length);
    for (let i = 0, at = start; i < length; i++, at += step) exps[i] = Math.exp(f(data[at] - m));
    return f(m + f(Math.log(cascadeSum(exps, 0, length))));
  },
};
