// Which keys each query may attend to (GEMMA2.md, "Masks and positions"):
//   causal:   key position k <= query position q
//   sliding:  additionally k > q - sliding_window (on sliding layers): the
//             window holds sliding_window keys, the query's own included
//             (huggingface/transformers#29623)
//   padding:  a key whose attention_mask entry is 0 is never seen
//   packed:   in a row that holds several documents one after another, a
//             key in another document than the query's is never seen, so
//             the attention is block-diagonal by document; on sliding layers
//             the window then lies within the document
// Documents are told apart as Transformers' flash-attention path tells them
// apart for padding-free packing (DataCollatorWithFlattening, 4.47
// _flash_attention_forward -> prepare_fa2_from_position_ids): a position id of
// 0 starts a new document. We derive them from the position ids instead of
// taking an extra input so that a packed batch is exactly what Transformers
// is fed ({input_ids, position_ids, labels}). Rows whose position ids never
// restart (the default 0..T-1, or cumsum(mask) - 1 with left padding, where
// the restart is at the first real token and everything before it is
// padding anyway) keep one document and the masks they always had. Eager
// attention in Transformers ignores position_ids and would let packed
// documents see each other; we follow the flash-attention behaviour.
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
  /**
   * Per batch row and sequence position: the document the position belongs to
   * (documentsFromPositionIds). A query sees only keys of its own document.
   * Omit when every row is one document.
   */
  documents?: ArrayLike<number>[];
}

/**
 * The document index of each position of a row of position ids: a new
 * document starts wherever the position id is 0 (after the first position),
 * as Transformers' flash-attention path finds packed sequences. [0,1,2,0,1]
 * gives [0,0,0,1,1].
 */
export function documentsFromPositionIds(positionIds: ArrayLike<number>): Int32Array {
  const documents = new Int32Array(positionIds.length);
  let document = 0;
  for (let t = 0; t < positionIds.length; t++) {
    if (t > 0 && positionIds[t] === 0) document++;
    documents[t] = document;
  }
  return documents;
}

/** Whether any row holds more than one document (a packed batch). */
export function holdsSeveralDocuments(documents: ArrayLike<number>[]): boolean {
  return documents.some((row) => row.length > 0 && row[row.length - 1] > 0);
}

/** The additive mask: MASKED_SCORE where query t must not see key slot s, else 0: [B or 1, 1, T, S] (float32, broadcast over heads). */
export function additiveMask(spec: MaskSpec): Tensor {
  const { queryPositions, keyPositions, keyPadding, slidingWindow, documents } = spec;
  const T = queryPositions.length;
  const S = keyPositions.length;
  if (keyPadding !== undefined && documents !== undefined && keyPadding.length !== documents.length) {
    throw new Error(`additiveMask: ${keyPadding.length} rows of key padding but ${documents.length} rows of documents`);
  }
  const B = keyPadding?.length ?? documents?.length ?? 1;
  const mask = new Float32Array(B * T * S);
  for (let b = 0; b < B; b++) {
    const padding = keyPadding?.[b] ?? null;
    const document = documents?.[b] ?? null;
    for (let t = 0; t < T; t++) {
      const q = queryPositions[t];
      for (let s = 0; s < S; s++) {
        const k = keyPositions[s];
        const visible =
          k >= 0 &&
          k <= q &&
          (slidingWindow === undefined || k > q - slidingWindow) &&
          (padding === null || padding[s] !== 0) &&
          (document === null || document[k] === document[q]);
        mask[(b * T + t) * S + s] = visible ? 0 : MASKED_SCORE;
      }
    }
  }
  return Tensor.fromData(mask, [B, 1, T, S]);
}
