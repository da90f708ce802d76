// Reductions along one axis. The input is contiguous and viewed as
// [outer, length, inner] (the reduced axis in the middle); one output per
// (outer, inner) cell reduces the `length` values along the axis.
//
// Each reduction is written once, as a formula over x(0) ... x(length - 1)
// (the values along the axis) with f32 marks where float32 rounds
// (kernels/formula.ts), and both compute paths are generated from it:
//   gpujs  one thread per output cell, reading A[outer][i][inner] from the box
//          [inner, length, outer]; outer blocks past 2^24 rows in chunks
//   cpu    a JavaScript loop walking each outer block row by row with the
//          same float32 steps: the webasm kernel's bits
// Sums (and the log-sum-exp's sum of exponentials) run in the cascade order of
// sum-order.ts. On the CPU path a log-sum-exp along the last axis (inner = 1)
// runs on the SIMD row kernel of wasm/vector-math.ts instead.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch } from './launch.ts';
import { defineKernel, type Agreement } from './registry.ts';
import { simdLogSumExpRows } from './wasm/vector-math.ts';
import { cascadeStatements } from './sum-order.ts';
import { compileHostLoop, forGpuJs, forHost, substituteReads } from './formula.ts';

/**
 * A reduction: statements over the values x(i), i < length, along the reduced
 * axis, ending in `return`, plus the names of any scalar arguments they read
 * (float32 on both paths).
 */
export interface ReductionFormula {
  body: string;
  scalars?: string[];
}

export const REDUCTIONS = {
  sum: { body: `${cascadeStatements({ length: 'length', term: 'x(i)' })} return sum;` },
  // NaN wins, as in PyTorch: once m is NaN no comparison replaces it
  max: {
    body: `let m = x(0);
  for (let i = 1; i < length; i++) {
    const v = x(i);
    if (v > m || v !== v) {
      m = v;
    }
  }
  return m;`,
  },
  // the index of the first maximum (of the first NaN if there is one); exact as a float32 since length <= 2^24
  argmax: {
    body: `let m = x(0);
  let index = 0;
  for (let i = 1; i < length; i++) {
    const v = x(i);
    if ((v > m || v !== v) && m === m) {
      m = v;
      index = i;
    }
  }
  return index;`,
  },
  // log(sum(exp(x))) computed stably as m + log(sum(exp(x - m))), m = max(x). As in PyTorch, an all -inf row
  // (fully masked) gives -inf and a row holding +inf gives +inf, not the NaN of inf - inf; NaN still wins.
  logSumExp: {
    body: `let m = x(0);
  for (let j = 1; j < length; j++) {
    m = Math.max(m, x(j));
  }
  if (m === -Infinity || m === Infinity) {
    return m;
  }
  ${cascadeStatements({ length: 'length', term: 'f32(Math.exp(f32(x(i) - m)))' })}
  return f32(m + f32(Math.log(sum)));`,
  },
} satisfies Record<string, ReductionFormula>;

export type Reduction = keyof typeof REDUCTIONS;

/** `length` as the GPU.js kernels see it: a compile-time constant. */
const lengthAsConstant = (text: string) => text.replace(/(?<![.\w])length\b/g, 'this.constants.length');

/** The GPU.js kernel of a reduction formula: thread (x, y) reduces A[y][i][x] over i. */
export function gpujsReductionSource(formula: ReductionFormula): string {
  const body = substituteReads(lengthAsConstant(forGpuJs(formula.body)), 'x', (i) => `A[this.thread.y][${i}][this.thread.x]`);
  return `function(${['A', ...(formula.scalars ?? [])].join(', ')}) {
  ${body}
}`;
}

type HostReduction = (data: TypedData, out: Float32Array, outer: number, length: number, inner: number, ...scalars: number[]) => void;

/**
 * The host loop of a reduction formula: for each output cell, the formula with
 * x(i) reading data[base + i * inner] (data[base + i] along the last axis).
 */
function hostReductionLoop(formula: ReductionFormula, lastAxis: boolean): HostReduction {
  const scalars = formula.scalars ?? [];
  const read = lastAxis ? (i: string) => `data[base + ${i}]` : (i: string) => `data[base + (${i}) * inner]`;
  const body = substituteReads(forHost(formula.body), 'x', read);
  return compileHostLoop<HostReduction>(
    ['data', 'out', 'outer', 'length', 'inner', ...scalars],
    `${scalars.map((s) => `${s} = Math.fround(${s});`).join(' ')} // kernels see scalar arguments as float32
    const cell = (base) => { ${body} };
    for (let o = 0; o < outer; o++) {
      const block = o * length * inner;
      for (let j = 0; j < inner; j++) out[o * inner + j] = cell(block + j);
    }`,
  );
}

/** Runs reduction `source` over [outer, length, inner] with GPU.js, in chunks of at most 2^24 outer rows. */
function gpujsReduction(name: string, source: string, data: TypedData, outer: number, length: number, inner: number, scalars: number[]): Float32Array {
  const out = new Float32Array(outer * inner);
  for (let start = 0; start < outer; start += MAX_KERNEL_AXIS) {
    const rows = Math.min(MAX_KERNEL_AXIS, outer - start);
    const chunk = data.subarray(start * length * inner, (start + rows) * length * inner) as TypedData;
    out.set(launch({ name, source, output: [inner, rows, 1], args: [boxed(chunk, [inner, length, rows]), ...scalars], constants: { length } }), start * inner);
  }
  return out;
}

/** Reduces contiguous [outer, length, inner] data along the middle axis: outer * inner values, row-major [outer, inner]. */
export type ReductionKernel = (data: TypedData, outer: number, length: number, inner: number, ...scalars: number[]) => Float32Array;

export interface ReductionOptions {
  /** On the CPU path along the last axis (inner = 1), a faster kernel than the generated loop (the SIMD row kernels). */
  alongLastAxis?: ReductionKernel;
  /** How the CPU path agrees with the GPU.js kernel: the generated loop gives its bits. */
  agreement?: Agreement;
}

/** Registers the reduction `formula` as kernel `name`, both paths generated from it. */
export function defineReduction(name: string, formula: ReductionFormula, { alongLastAxis, agreement = 'same-bits' }: ReductionOptions = {}): ReductionKernel {
  const source = gpujsReductionSource(formula);
  const [strided, contiguous] = [false, true].map((lastAxis) => hostReductionLoop(formula, lastAxis));
  const host: ReductionKernel = (data, outer, length, inner, ...scalars) => {
    if (inner === 1 && alongLastAxis !== undefined) return alongLastAxis(data, outer, length, inner, ...scalars);
    const out = new Float32Array(outer * inner);
    (inner === 1 ? contiguous : strided)(data, out, outer, length, inner, ...scalars);
    return out;
  };
  return defineKernel({
    name,
    gpujs: (data: TypedData, outer: number, length: number, inner: number, ...scalars: number[]) => gpujsReduction(name, source, data, outer, length, inner, scalars),
    cpu: { kind: alongLastAxis === undefined ? 'host-loop' : 'wasm-simd', run: host },
    agreement,
  });
}

const KERNELS: Record<Reduction, ReductionKernel> = {
  sum: defineReduction('reduce.sum', REDUCTIONS.sum),
  max: defineReduction('reduce.max', REDUCTIONS.max),
  argmax: defineReduction('reduce.argmax', REDUCTIONS.argmax),
  logSumExp: defineReduction('reduce.logSumExp', REDUCTIONS.logSumExp, {
    alongLastAxis: (data, outer, length) => simdLogSumExpRows(data, outer, length),
    agreement: { tolerance: 'softmax', why: 'along the last axis the SIMD row kernel computes exp as a polynomial (about 1-2 ulp)' },
  }),
};

/**
 * Reduces `data` (contiguous [outer, length, inner]) along the middle axis.
 * Returns outer*inner values, row-major [outer, inner].
 */
export function runReduction(kind: Reduction, data: TypedData, outer: number, length: number, inner: number): Float32Array {
  return KERNELS[kind](data, outer, length, inner);
}
