// HybridCache (GEMMA2.md, "HybridCache"), the cache Transformers added with
// Gemma2 (huggingface/transformers#31659): one static key/value cache per
// layer, [B, kv_heads, slots, hd].
//   global layers:  max_cache_len slots; position p lives in slot p
//   sliding layers: min(sliding_window, max_cache_len) slots used as a ring;
//                   position p lives in slot p mod slots, so once full each new
//                   entry replaces the oldest (not one step early, as in
//                   Transformers after 4.47: issue huggingface/transformers#37574,
//                   fixed by #37972/#38046)
// A call with T new tokens at cache positions p0..p0+T-1 (Transformers'
// cache_position, which padding does not shift: huggingface/transformers#27931)
// attends over the entries already cached (positions below p0) followed by its
// own T tokens, and then writes its tokens at their slots. Every key carries
// its position, and the attention mask (causal, sliding window, padding) is
// built from those positions, so it does not matter where in the ring a key
// sits. A prompt longer than the window therefore attends to all of itself
// under the sliding mask, and the ring keeps its last `slots` positions.
// A single decoded token on a sliding layer is written first and attends over
// the ring as it is (writesFirst): the same keys the mask lets through, no copy.
// It is the model's ModelCache (lib/model/cache.ts): the model calls it
// through that interface and does not import this file.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError } from '../tensor/shape.ts';
import { concat } from '../ops/index.ts';
import { isGradEnabled, noGrad } from '../autograd/tape.ts';
import type { KeyValues, LayerCache, ModelCache } from '../model/cache.ts';
import { type Gemma2Config, isSlidingLayer } from '../model/config.ts';

/**
 * What a HybridCache for `batch` rows and `maxCacheLen` positions allocates:
 * float32 keys and values per layer (global layers maxCacheLen slots, sliding
 * ones at most the window), in bytes, and the largest single array's length.
 */
export function hybridCacheBytes(config: Gemma2Config, batch: number, maxCacheLen: number): { bytes: number; largestArray: number } {
  let bytes = 0;
  let largestArray = 0;
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const slots = isSlidingLayer(config, i) ? Math.min(config.slidingWindow, maxCacheLen) : maxCacheLen;
    const elements = batch * config.numKeyValueHeads * slots * config.headDim;
    bytes += 2 * elements * Float32Array.BYTES_PER_ELEMENT;
    largestArray = Math.max(largestArray, elements);
  }
  return { bytes, largestArray };
}

export class CacheError extends Error {
  override name = 'CacheError';
}

/** One layer's keys and values, and the position held by each slot (-1 = empty). */
class LayerStore {
  readonly keys: Tensor;
  readonly values: Tensor;
  readonly slotPositions: Int32Array;

  constructor(
    batch: number,
    kvHeads: number,
    readonly slots: number,
    headDim: number,
    readonly ring: boolean,
  ) {
    const size = batch * kvHeads * slots * headDim;
    this.keys = Tensor.fromData(new Float32Array(size), [batch, kvHeads, slots, headDim]);
    this.values = Tensor.fromData(new Float32Array(size), [batch, kvHeads, slots, headDim]);
    this.slotPositions = new Int32Array(slots).fill(-1);
  }

  /** Slots holding positions before `start`, in slot order (global: the first `start` slots; ring: all slots). */
  cachedSlotCount(start: number): number {
    return this.ring ? this.slots : start;
  }

  /**
   * Whether a call writes its token before attending: one token on a sliding
   * layer, without gradients. It then attends over the ring's slots as they
   * are, its own among them, instead of a concatenation of every slot and the
   * token: no copy, and `window` keys (a multiple of 4 the decode product reads
   * in place) rather than window + 1. The key it overwrites is `window`
   * positions back, which the sliding mask hides anyway.
   */
  private writesFirst(length: number): boolean {
    return this.ring && length === 1 && !isGradEnabled();
  }

  /** The positions of the keys a call starting at `start` attends over, cached first (or the ring's slots, see writesFirst). */
  keyPositions(start: number, length: number): Int32Array {
    if (this.writesFirst(length)) {
      const slots = Int32Array.from(this.slotPositions);
      slots[start % this.slots] = start;
      return slots;
    }
    const cached = this.slotPositions.subarray(0, this.cachedSlotCount(start));
    const out = new Int32Array(cached.length + length);
    out.set(cached);
    for (let t = 0; t < length; t++) out[cached.length + t] = start + t;
    return out;
  }

  /** Cached entries followed by `current`, then `current` written into its slots (or written first: see writesFirst). */
  update(current: KeyValues, start: number): KeyValues {
    const length = current.keys.shape[2];
    if (this.writesFirst(length)) {
      this.write(current, start, 0);
      return { keys: this.keys, values: this.values };
    }
    const cachedCount = this.cachedSlotCount(start);
    const attended = {
      keys: cachedCount === 0 ? current.keys : concat([this.keys.narrow(2, 0, cachedCount), current.keys], 2),
      values: cachedCount === 0 ? current.values : concat([this.values.narrow(2, 0, cachedCount), current.values], 2),
    };
    // On a ring only the last `slots` tokens survive; earlier ones would be overwritten anyway.
    for (let t = Math.max(0, length - this.slots); t < length; t++) this.write(current, start, t);
    return attended;
  }

  /** Token t of `current` (position start + t) into its slot. */
  private write(current: KeyValues, start: number, t: number): void {
    const position = start + t;
    const slot = this.ring ? position % this.slots : position;
    noGrad(() => {
      this.keys.narrow(2, slot, 1).copyFrom(current.keys.narrow(2, t, 1));
      this.values.narrow(2, slot, 1).copyFrom(current.values.narrow(2, t, 1));
    });
    this.slotPositions[slot] = position;
  }

  reset(): void {
    this.slotPositions.fill(-1);
  }
}

export interface HybridCacheOptions {
  batch: number;
  /** Positions the cache can hold: the prompt plus every token to be generated. */
  maxCacheLen: number;
}

export class HybridCache implements ModelCache {
  readonly batch: number;
  readonly maxCacheLen: number;
  private readonly layers: LayerStore[];
  /** Positions already written (the next call starts here). */
  private seen = 0;

  constructor(config: Gemma2Config, options: HybridCacheOptions) {
    const { batch, maxCacheLen } = options;
    if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(maxCacheLen) || maxCacheLen < 1) {
      throw new CacheError(`HybridCache: batch (${batch}) and maxCacheLen (${maxCacheLen}) must be positive integers`);
    }
    this.batch = batch;
    this.maxCacheLen = maxCacheLen;
    this.layers = config.layerTypes.map((_, i) => {
      const sliding = isSlidingLayer(config, i);
      const slots = sliding ? Math.min(config.slidingWindow, maxCacheLen) : maxCacheLen;
      return new LayerStore(batch, config.numKeyValueHeads, slots, config.headDim, sliding);
    });
  }

  /** Number of positions written so far. */
  get length(): number {
    return this.seen;
  }

  /** Checks that `length` new tokens for `batch` rows fit; returns the first new position. */
  begin(batch: number, length: number): number {
    if (batch !== this.batch) throw new ShapeError(`HybridCache: built for batch ${this.batch}, called with batch ${batch}`);
    if (this.seen + length > this.maxCacheLen) {
      throw new CacheError(`HybridCache: ${this.seen} cached + ${length} new positions exceed maxCacheLen ${this.maxCacheLen}`);
    }
    return this.seen;
  }

  /** Positions of the keys that global (sliding = false) or sliding layers attend over in the next call. */
  keyPositions(sliding: boolean, length: number): Int32Array {
    const layer = this.layers.find((l) => l.ring === sliding);
    if (layer === undefined) return new Int32Array(0);
    return layer.keyPositions(this.seen, length);
  }

  /** The LayerCache handed to layer `i` for the call starting at the current length. */
  layer(i: number): LayerCache {
    const store = this.layers[i];
    const start = this.seen;
    return { update: (current) => store.update(current, start) };
  }

  /** Marks `length` positions as written, after every layer has been updated. */
  advance(length: number): void {
    this.seen += length;
  }

  /** Forgets every cached position (the buffers are kept for reuse). */
  reset(): void {
    this.seen = 0;
    for (const layer of this.layers) layer.reset();
  }
}
