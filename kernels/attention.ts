// Attention's rows, from scores to probabilities (GEMMA2.md, "Forward pass"
// step 2, after q k^T):
//   p = softmax(c tanh((s scaling) / c) + M)     along each row of keys
// (no cap: softmax(s scaling + M)), M the additive mask row of the query.
// Row r of the scores adds mask row maskRowOf[r]: the scores are
// [B, kv, groups * T, S] and the mask [B or 1, 1, T, S], so every kv head and
// query head of a batch entry shares its T mask rows (lib/ops/attention.ts
// builds the map).
//
//   gpujs  the composed kernels: mulScalar, softcap, add (the mask rows
//          gathered per score row), then softmax.rows
//   cpu    one SIMD pass scales, caps and adds the mask in place in wasm
//          memory, then the two passes of softmax.rows run on the same
//          scratch (wasm/vector-math.ts, attentionRowsChunk)
// Each path gives the bits of its own composed kernels; the two paths differ
// by the SIMD tanh and exp polynomials.
//
// The backward's rows, from dp = g v^T to the gradient of the scores:
//   dm = p (dp - sum(dp p))            softmax's rule (the mask takes none)
//   ds = dm (1 - (c / cap)^2) scaling  c the capped scores (none without a cap)
//   gpujs  softmax.backwardRows, then the softcapGrad and mulScalar formulas
//   cpu    one host loop with the float32 steps of those three
// so the same bits on both paths.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { defineKernel } from './registry.ts';
import { runElementwiseFlat } from './elementwise.ts';
import { runSoftmaxBackwardRows, runSoftmaxRows } from './softmax.ts';
import { cascadeSum } from './sum-order.ts';
import { outputArray } from '../lib/tensor/arena.ts';
import { simdAttentionRows } from './wasm/vector-math.ts';

/** The mask rows each score row reads, written out as one [rows, length] array. */
function gatherMaskRows(mask: TypedData, maskRowOf: Int32Array, length: number): Float32Array {
  const out = new Float32Array(maskRowOf.length * length);
  maskRowOf.forEach((row, r) => out.set(mask.subarray(row * length, (row + 1) * length), r * length));
  return out;
}

const attentionRows = defineKernel({
  name: 'attention.rows',
  gpujs: (scores: TypedData, rows: number, length: number, mask: TypedData, maskRowOf: Int32Array, scaling: number, cap: number | null) => {
    const scaled = runElementwiseFlat('mulScalar', [scores], scaling);
    const capped = cap === null ? scaled : runElementwiseFlat('softcap', [scaled], cap);
    return runSoftmaxRows(runElementwiseFlat('add', [capped, gatherMaskRows(mask, maskRowOf, length)]), rows, length);
  },
  cpu: { kind: 'wasm-simd', run: simdAttentionRows },
  agreement: { tolerance: 'softmax', why: 'the SIMD kernels compute tanh and exp as polynomials (about 1-2 ulp)' },
});

/**
 * softmax(cap tanh((s scaling) / cap) + mask[maskRowOf[r]]) along each row r
 * of contiguous scores [rows, length] (length >= 1); mask is [maskRows, length]
 * and cap null for no softcapping.
 */
export function runAttentionRows(scores: TypedData, rows: number, length: number, mask: TypedData, maskRowOf: Int32Array, scaling: number, cap: number | null): Float32Array {
  return attentionRows(scores, rows, length, mask, maskRowOf, scaling, cap);
}

const attentionBackwardRows = defineKernel({
  name: 'attention.backwardRows',
  gpujs: (p: TypedData, dp: TypedData, capped: TypedData | null, rows: number, length: number, scaling: number, cap: number | null) => {
    const dm = runSoftmaxBackwardRows(p, dp, rows, length);
    return runElementwiseFlat('mulScalar', [capped === null || cap === null ? dm : runElementwiseFlat('softcapGrad', [capped, dm], cap)], scaling);
  },
  cpu: {
    kind: 'host-loop',
    run: (p: TypedData, dp: TypedData, capped: TypedData | null, rows: number, length: number, scaling: number, cap: number | null) => {
      const f = Math.fround;
      const [s, c] = [f(scaling), cap === null ? 0 : f(cap)]; // kernels see scalar arguments as float32
      const ds = outputArray(rows * length); // the loop writes every element
      for (let r = 0; r < rows; r++) {
        const start = r * length;
        const dot = cascadeSum(dp, start, length, 1, p);
        if (capped === null || cap === null) {
          for (let i = start; i < start + length; i++) ds[i] = f(f(p[i] * f(dp[i] - dot)) * s);
        } else {
          for (let i = start; i < start + length; i++) {
            const t = f(capped[i] / c);
            ds[i] = f(f(f(p[i] * f(dp[i] - dot)) * f(1 - f(t * t))) * s);
          }
        }
      }
      return ds;
    },
  },
  agreement: 'same-bits',
});

/**
 * The scores' gradient from the probabilities p, their gradient dp and the
 * capped scores (null without a cap), all contiguous [rows, length].
 */
export function runAttentionBackwardRows(p: TypedData, dp: TypedData, capped: TypedData | null, rows: number, length: number, scaling: number, cap: number | null): Float32Array {
  return attentionBackwardRows(p, dp, capped, rows, length, scaling, cap);
}
