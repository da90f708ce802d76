// Float64 oracles of the fused attention and softcapped LM head
// (lib/ops/attention.ts, lib/ops/linear-softcap.ts), written out loop by loop
// from GEMMA2.md's formulas:
//   attention:     o = softmax(c tanh((q k^T scaling) / c) + M) v, the mask M added
//   linearSoftcap: y = c tanh((x W^T) / c)

import type { RefTensor } from './tensor.ts';
import { linear } from './matmul.ts';
import { softcap } from './elementwise.ts';

/**
 * q [B, kv, groups * T, hd] (each kv head's query heads stacked as rows),
 * keys and values [B, kv, S, hd], mask [B or 1, 1, T, S]: [B, kv, groups * T, hd].
 * A row whose every key is -infinity is NaN, as softmax is.
 */
export function attention(q: RefTensor, keys: RefTensor, values: RefTensor, mask: RefTensor, scaling: number, cap: number | null): RefTensor {
  const [B, kv, R, hd] = q.shape;
  const S = keys.shape[2];
  const [maskBatch, , T] = mask.shape;
  const out = new Float64Array(B * kv * R * hd);
  const p = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < kv; h++) {
      const entry = b * kv + h;
      for (let r = 0; r < R; r++) {
        const maskRow = ((maskBatch === 1 ? 0 : b) * T + (r % T)) * S;
        let max = -Infinity;
        for (let s = 0; s < S; s++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q.data[(entry * R + r) * hd + d] * keys.data[(entry * S + s) * hd + d];
          const scaled = dot * scaling;
          p[s] = (cap === null ? scaled : cap * Math.tanh(scaled / cap)) + mask.data[maskRow + s];
          max = Math.max(max, p[s]);
        }
        let total = 0;
        for (let s = 0; s < S; s++) total += (p[s] = Math.exp(p[s] - max));
        for (let d = 0; d < hd; d++) {
          let sum = 0;
          for (let s = 0; s < S; s++) sum += (p[s] / total) * values.data[(entry * S + s) * hd + d];
          out[(entry * R + r) * hd + d] = sum;
        }
      }
    }
  }
  return { shape: [B, kv, R, hd], data: out };
}

/** y = c tanh((x W^T) / c), x [..., in], W [out, in]. */
export function linearSoftcap(x: RefTensor, weight: RefTensor, cap: number): RefTensor {
  return softcap(linear(x, weight), cap);
}
