// Which keys each query may attend to (GEMMA2.md, "Masks and positions"):
//   causal:   key position k <= query position q
//   sliding:  additionally k > q - sliding_window (on sliding layers): the
//             window holds sliding_window keys, the query's own included
//             (huggingface/transformers#29623)
//   padding:  a key whose attention_mask entry is 0 is never seen
// Positions here are places in the sequence (cache positions), not the
// position ids fed to RoPE. The result is the mask Transformers' eager
// attention *adds* to the scores: 0 where the query may look, the most
// negative float32 (finfo.min, not -inf or -1e4: huggingface/transformers#17306)
// where it may not. A query that sees nothing (a left pad) then has every
// score rounded to finfo.min and averages all values uniformly instead of
// producing NaN; because the mask is added rather than filled in, the softmax
// gradient of such a row still reaches the scores (GEMMA2.md, "Forward pass"),
// as it does in Transformers.

import { Tensor } from '../tensor/tensor.ts';

/** The most negative float32: what Transformers adds to masked attention scores. */
export const MASKED_SCORE = -3.4028234663852886e38;

export interface MaskSpec {
  /** Sequence position of each query, length T. */
  queryPositions: ArrayLike<number>;
  /** Sequence position held by each key slot, length S; -1 for an empty slot. */
  keyPositions: ArrayLike<number>;
  /** Per batch row and key slot: 1 = a real token, 0 = padding. Omit when nothing is padded. */
  keyPadding?: ArrayLike<number>[];
  /** Set on sliding layers. */
  slidingWindow?: number;
}

/** The additive mask: MASKED_SCORE where query t must not see key slot s, else 0: [B or 1, 1, T, S] (float32, broadcast over heads). */
export function additiveMask(spec: MaskSpec): Tensor {
  const { queryPositions, keyPositions, keyPadding, slidingWindow } = spec;
  const T = queryPositions.length;
  const S = keyPositions.length;
  const rows = keyPadding ?? [null];
  const mask = new Float32Array(rows.length * T * S);
  rows.forEach((padding, b) => {
    for (let t = 0; t < T; t++) {
      const q = queryPositions[t];
      for (let s = 0; s < S; s++) {
        const k = keyPositions[s];
        const visible =
          k >= 0 && k <= q && (slidingWindow === undefined || k > q - slidingWindow) && (padding === null || padding[s] !== 0);
        mask[(b * T + t) * S + s] = visible ? 0 : MASKED_SCORE;
      }
    }
  });
  return Tensor.fromData(mask, [rows.length, 1, T, S]);
}
