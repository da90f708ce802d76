// Gemma2's attention block as one op (GEMMA2.md, "Forward pass" step 2),
// from the roped queries, keys and values to the heads' outputs:
//   s = (q k^T) scaling;  s = c tanh(s / c) (attn_logit_softcapping c);
//   p = softmax(s + M) over the keys (M the additive mask);  o = p v
// Grouped-query attention keeps the model's layout: each kv head's query
// heads stacked as rows, q [B, kv, groups * T, hd] against keys and values
// [B, kv, S, hd]; mask [B or 1, 1, T, S] serves every head.
//
// The forward runs, for a block of (batch, kv head) entries at a time (or of
// rows of one entry, when one entry has more than chunkFloats scores): the
// scores product (matmul.NT), one row kernel for scale, cap, mask and softmax
// (kernels/attention.ts), and the product with v (matmul.NN). Without a
// gradient to keep, each block's scores and p go back to the arena before
// the next, so no [B, heads, T, S] tensor exists: a block holds at most
// attentionLimits.chunkFloats scores (or one row of keys, if longer). With
// a gradient, p is kept whole for the rule (gradients.ts), which recomputes
// the capped scores from q and k (one more NT product) instead of keeping
// them: the tape holds one [B, heads, T, S]
// array per layer, where the composed ops held two (the capped scores and p).
// Measured at bench-small's shapes (README, Performance; calls interleaved):
// forward and backward 1.00-1.04 of the composed ops', which keep the capped
// scores (the recompute cost about what the fused forward saved), and
// 0.95-0.97 once the rule's rows became one kernel (attention.backwardRows).
// Without gradients the fused op is faster in every regime measured, the
// decode step's single row included (0.67-0.73 of the composed ops over 129
// keys, 0.46-0.54 over a 64-slot window), so the model uses it for decode
// too.
//
// The mask gets no gradient (a GradientError naming attention if one is
// asked for): Transformers' masks are constants.
//
// Forward and gradients have the bits of the composed ops (mul, softcap,
// add, softmax, matmul) on each path (test/ops/attention.test.ts).

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape } from '../tensor/shape.ts';
import { outputArray, releaseEarly } from '../tensor/arena.ts';
import { isGradEnabled } from '../autograd/tape.ts';
import { record } from './record.ts';
import { runMatmul } from '../../kernels/matmul.ts';
import { runAttentionRows } from '../../kernels/attention.ts';
import { expectFloat, expectRank } from './check.ts';

export interface AttentionOptions {
  /** query_pre_attn_scalar^-0.5 */
  scaling: number;
  /** attn_logit_softcapping, or null for none. */
  softcap: number | null;
}

/** At most this many scores per block in a forward without gradients (16 MB). */
export const attentionLimits = { chunkFloats: 4 * 2 ** 20 };

/** For each score row of the entries [B * kv, groups * T]: the mask row [B or 1, T] it adds. */
function maskRowsOf(B: number, kv: number, rows: number, T: number, maskBatch: number): Int32Array {
  const of = new Int32Array(B * kv * rows);
  for (let b = 0; b < B; b++) {
    const first = maskBatch === 1 ? 0 : b * T;
    for (let h = 0; h < kv; h++) for (let r = 0; r < rows; r++) of[(b * kv + h) * rows + r] = first + (r % T);
  }
  return of;
}

function checkShapes(q: Tensor, keys: Tensor, values: Tensor, mask: Tensor): void {
  for (const [what, t] of [['q', q], ['keys', keys], ['values', values], ['mask', mask]] as const) expectRank('attention', what, t, 4);
  const [B, kv, rows, hd] = q.shape;
  const [maskBatch, maskHeads, T, S] = mask.shape;
  if (keys.shape[0] !== B || keys.shape[1] !== kv || keys.shape[3] !== hd) {
    throw new ShapeError(`attention: keys ${formatShape(keys.shape)} must be [${B}, ${kv}, S, ${hd}] for q ${formatShape(q.shape)}`);
  }
  if (values.shape.some((d, i) => d !== keys.shape[i])) throw new ShapeError(`attention: values ${formatShape(values.shape)} and keys ${formatShape(keys.shape)} differ`);
  if ((maskBatch !== 1 && maskBatch !== B) || maskHeads !== 1 || S !== keys.shape[2] || T === 0 || rows % T !== 0) {
    throw new ShapeError(
      `attention: mask ${formatShape(mask.shape)} must be [${B} or 1, 1, T, ${keys.shape[2]}] with T dividing q's ${rows} rows (query heads stacked, q ${formatShape(q.shape)})`,
    );
  }
}

/** softmax(c tanh((q k^T scaling) / c) + mask) v; see the file comment for the layout. */
export function attention(q: Tensor, keys: Tensor, values: Tensor, mask: Tensor, { scaling, softcap }: AttentionOptions): Tensor {
  expectFloat('attention', q, keys, values, mask);
  checkShapes(q, keys, values, mask);
  if (softcap !== null && !(Number.isFinite(softcap) && softcap > 0)) throw new RangeError(`attention: softcap must be null or a finite number > 0, got ${softcap}`);
  const [B, kv, rows, hd] = q.shape;
  const S = keys.shape[2];
  const entries = B * kv;
  const taped = isGradEnabled() && [q, keys, values, mask].some((t) => t.requiresGrad); // as record() decides
  if (entries * rows * hd === 0 || S === 0) {
    // nothing to attend over (S = 0: the product over no keys is zero, as matmul's)
    return record(Tensor.fromData(new Float32Array(entries * rows * hd), q.shape), 'attention', [q, keys, values, mask], { pattern: new Float32Array(0), scaling, softcap });
  }
  const [qData, kData, vData] = [q, keys, values].map((t) => t.contiguousData());
  const maskRowOf = maskRowsOf(B, kv, rows, mask.shape[2], mask.shape[0]);
  // blocks of whole entries, or of rows of one entry when an entry alone has more than chunkFloats scores
  const rowsPerBlock = taped ? rows : Math.max(1, Math.min(rows, Math.floor(attentionLimits.chunkFloats / S)));
  const entriesPerBlock = taped ? entries : rowsPerBlock < rows ? 1 : Math.max(1, Math.floor(attentionLimits.chunkFloats / (rows * S)));
  const blocks: { first: number; n: number; r0: number; r1: number }[] = [];
  for (let first = 0; first < entries; first += entriesPerBlock) {
    for (let r0 = 0; r0 < rows; r0 += rowsPerBlock) blocks.push({ first, n: Math.min(entriesPerBlock, entries - first), r0, r1: Math.min(rows, r0 + rowsPerBlock) });
  }
  const out = blocks.length > 1 ? outputArray(entries * rows * hd) : null; // every block writes its rows
  let pattern: Float32Array = new Float32Array(0);
  let whole: Float32Array = new Float32Array(0);
  for (const { first, n, r0, r1 } of blocks) {
    // the block's score rows, flat over its entries: rows r0..r1 of one entry, or every row of n entries
    const [rowStart, rowEnd] = [first * rows + r0, (first + n - 1) * rows + r1];
    const dims = (M: number, K: number, N: number) => ({ batch: n, M, K, N, aBatched: 1 as const, bBatched: 1 as const });
    const entryKeys = (data: typeof kData) => data.subarray(first * S * hd, (first + n) * S * hd);
    const scores = runMatmul('NT', qData.subarray(rowStart * hd, rowEnd * hd), entryKeys(kData), dims(r1 - r0, hd, S));
    const p = runAttentionRows(scores, rowEnd - rowStart, S, mask.contiguousData(), maskRowOf.subarray(rowStart, rowEnd), scaling, softcap);
    releaseEarly(scores);
    const o = runMatmul('NN', p, entryKeys(vData), dims(r1 - r0, S, hd));
    if (taped) pattern = p;
    else releaseEarly(p);
    if (out === null) whole = o;
    else {
      out.set(o, rowStart * hd);
      releaseEarly(o);
    }
  }
  return record(Tensor.fromData(out ?? whole, q.shape), 'attention', [q, keys, values, mask], { pattern, scaling, softcap });
}
