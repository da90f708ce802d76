// The order of every float32 sum over a model dimension: a cascade.
//
// A plain running sum s = s + x_i loses up to one rounding of the partial sum
// per term, so its error grows like n (for random signs, like n^(1/2) times the
// partial sums' size): over gemma-2-2b's 2304-wide rows it was the largest
// error left in a float32 forward (the parity issue's table: 1.6-3x PyTorch's
// float32 error on every hidden state). Every kernel and host loop that sums
// over a model dimension (matmul's K, RMSNorm's mean of squares, the softmax and
// log-sum-exp denominators, reductions, the embedding gradient) instead sums
//
//   runs:   the terms in order, 32 at a time, each run from 0   (run = ((0 + x0) + x1) + ...)
//   groups: 32 consecutive runs, in order
//   blocks: 32 consecutive groups, in order
//   total:  the blocks in order
//
// which is the 32-ary tree of consecutive terms for n <= 32^4 = 2^20 (above
// that the top level adds more than 32 blocks in order). Each level adds at
// most 31 roundings on the way to the root, so the error bound is
// (31 log32(n) + n / 2^15) units of float32 rounding instead of n, and a term
// still takes one multiply and one add in the innermost loop: the SIMD matmul
// keeps its register blocking and only adds a run's eight accumulators into
// the group's every 32 steps. PyTorch's own CPU sums use such a cascade
// (aten SumKernel.cpp, fan-in 16 per level); its sgemm (OpenBLAS) sums K in order.
//
// Streaming form, which every implementation follows (a sum of zero terms is 0,
// and an empty run or group adds an exact 0):
//   for i: run += x_i; after every 32nd term: group += run, run = 0;
//          after every 1024th: block += group, group = 0; after every 32768th: total += block, block = 0
//   result = total + (block + (group + run))
// Implementations: the loop as text, cascadeStatements below (the folds under
// `i % 32 === 31`), from which the GPU.js kernels of matmul.ts, reduce.ts,
// rms-norm.ts and embedding.ts and the generated host loops of reduce.ts and
// rms-norm.ts are made; the host function cascadeSum below, for host loops
// written by hand (the softmax backward); the WebAssembly kernels
// (wasm/cascade.ts, used by wasm/gemm.ts and wasm/vector-math.ts). Where the GPU.js kernel on webasm and
// the CPU path compute the same terms (matmul, sums, RMSNorm), the results are
// the same bits; test/sum-order.test.ts checks every implementation on lengths
// that cross each level.
//
// Why 32, and why a cascade: `npm run measure:sum-orders` (lib/bench/sum-orders.ts)
// measures each candidate's float32 error on dot products and sums of squares
// of Gemma2's lengths. Measured 2026-12-04 (root-mean-square error over random
// cases, in units of 2^-24 times the sum's scale):
//
//   order                       dot K=2304   9216  36864  256000   squares 2304  256000
//   in order (before)                 11.7   25.3   68.8   109.5          11.0   940.8
//   two levels of 32                   2.8    5.4   11.1    24.6           2.1    17.6
//   cascade, fan-in 8                  1.9    2.1    2.1     2.2           0.9     0.7
//   cascade, fan-in 16                 2.2    2.3    2.5     2.4           0.8     0.6
//   cascade, fan-in 32 (chosen)        2.0    2.7    3.2     3.3           1.2     0.8
//   cascade, fan-in 64                 3.2    3.4    3.7     6.3           1.4     2.3
//   pairwise over runs of 32           1.7    2.2    2.3     2.0           0.8     0.5
//   compensated (Kahan)                0.6    0.6    0.6     0.5           0.5     0.3
//
// A smaller fan-in is a little more accurate, a larger one cheaper: the SIMD
// matmul folds its accumulators once per run and leaves its innermost loop to
// do so. Against the running sum it replaced (one thread, B resident, calls of
// the two builds interleaved in one process, median of per-call ratios; the
// same build twice differs by at most 1.6%), fan-in 32 costs 4-9% on the
// 128-row products of gemma-2-2b's layers (K = 2304, 9216), 6-12% on short
// ones (K = 64 to 512: attention, bench-small, weight gradients over few
// tokens) and nothing on decode's gemv; fan-in 16 cost 8-27%, 64 0-11% and 128
// 0-7%. In bench:accuracy fan-in 64 left the 2b gradients at up to 0.99 of
// PyTorch's float32 error (32: 0.84), so 32 it is. A compensated sum is the most
// accurate but needs four more operations per term in the innermost loop (and
// a GPU compiler may reassociate it away); pairwise combination needs a stack
// that GPU.js kernels cannot index. The products themselves (each a * b
// rounded once, no fused multiply-add in WebAssembly SIMD) add about 1 unit
// whatever the order.

import { forGpuJs } from './formula.ts';

/** Terms per run; runs per group; groups per block. */
export const CASCADE_FAN_IN = 32;

const f32 = Math.fround;

/**
 * The cascade sum of the `length` values data[start], data[start + step], ...;
 * with `times`, of the products data[at] * times[at], each rounded to float32
 * first (a dot product; times = data: a sum of squares).
 */
export function cascadeSum(data: ArrayLike<number>, start: number, length: number, step = 1, times?: ArrayLike<number>): number {
  let run = 0;
  let group = 0;
  let block = 0;
  let total = 0;
  for (let i = 0, at = start; i < length; i++, at += step) {
    run = f32(run + (times === undefined ? data[at] : f32(data[at] * times[at])));
    if ((i & 31) !== 31) continue;
    group = f32(group + run);
    run = 0;
    if ((i & 1023) !== 1023) continue;
    block = f32(block + group);
    group = 0;
    if ((i & 32767) !== 32767) continue;
    total = f32(total + block);
    block = 0;
  }
  return f32(total + f32(block + f32(group + run)));
}

/** A sum in the cascade order, as statements (see cascadeStatements). */
export interface CascadeLoop {
  /** How many terms: an expression, usually a size. */
  length: string;
  /** Term i, an expression of the loop index `i` (with f32 marks, kernels/formula.ts). */
  term: string;
  /** Only the indices where this holds add their term (they come first: i < count). */
  when?: string;
}

/**
 * The cascade loop as statements that leave the sum in `sum`, with f32 marks
 * (kernels/formula.ts) where a float32 kernel rounds: the one text from which
 * the GPU.js kernels (cascadeKernel) and the generated host loops (reduce.ts,
 * rms-norm.ts) both sum.
 */
export function cascadeStatements({ length, term, when }: CascadeLoop): string {
  const addTerm = `run = f32(run + ${term});
    if (i % 32 === 31) {
      group = f32(group + run);
      run = 0;
      if (i % 1024 === 1023) {
        block = f32(block + group);
        group = 0;
        if (i % 32768 === 32767) {
          total = f32(total + block);
          block = 0;
        }
      }
    }`;
  return `let run = 0;
  let group = 0;
  let block = 0;
  let total = 0;
  for (let i = 0; i < ${length}; i++) {
    ${when === undefined ? addTerm : `if (${when}) {\n    ${addTerm}\n    }`}
  }
  const sum = f32(total + f32(block + f32(group + run)));`;
}

/** A GPU.js kernel that sums terms in the cascade order (see cascadeKernel). */
export interface CascadeKernel extends CascadeLoop {
  /** The kernel's parameters, e.g. 'A, B'. */
  params: string;
  /** Statements before the sum: locals the term uses (they may `return` early). */
  setup?: string;
  /** Statements after the sum, which is in `sum`; by default `return sum;`. */
  finish?: string;
}

/**
 * The source of a GPU.js kernel that adds its terms in the cascade order:
 * the GPU.js kernels' summation loop, from cascadeStatements.
 */
export function cascadeKernel({ params, setup = '', length, term, when, finish = 'return sum;' }: CascadeKernel): string {
  return `function(${params}) {
  ${setup}
  ${forGpuJs(cascadeStatements({ length, term, when }))}
  ${finish}
}`;
}
