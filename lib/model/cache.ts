// What the model needs from a key/value cache, stated here so the model
// depends on no cache implementation: generation's HybridCache
// (lib/generation/hybrid-cache.ts) implements it, and so may any other cache
// (a test double, a paged cache) without the model importing it.
//
// One forward call with T new tokens per row runs:
//   start = cache.begin(B, T)                  the cache position of its first token
//   cache.keyPositions(sliding, T)             the positions of the keys each kind of
//                                              layer attends over (masks are built from them)
//   cache.layer(i).update({ keys, values })    per layer: store this call's keys and values,
//                                              get back every key and value to attend over
//   cache.advance(T)                           after the last layer: the tokens are written

import type { Tensor } from '../tensor/tensor.ts';

/** Keys (RoPE applied) and values of S positions: [B, kv_heads, S, hd] each. */
export interface KeyValues {
  keys: Tensor;
  values: Tensor;
}

/** A layer's key/value cache: stores this call's keys and values and returns every slot to attend over. */
export interface LayerCache {
  update(current: KeyValues): KeyValues;
}

export interface ModelCache {
  /** Checks that `length` new tokens for `batch` rows fit; returns the cache position of the first. */
  begin(batch: number, length: number): number;
  /**
   * The position of every key that global (sliding = false) or sliding layers
   * attend over in this call, in the order layer(i).update returns them:
   * cached keys first (-1 for an empty slot), then this call's `length`.
   */
  keyPositions(sliding: boolean, length: number): Int32Array;
  /** The cache of layer `i` for this call. */
  layer(i: number): LayerCache;
  /** Marks `length` positions as written, after every layer has been updated. */
  advance(length: number): void;
}
