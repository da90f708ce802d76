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

import type { TypedData } from '../lib/tensor/dtype.ts';
import { defineKernel } from './registry.ts';
import { runElementwiseFlat } from './elementwise.ts';
import { runSoftmaxRows } from './softmax.ts';
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
