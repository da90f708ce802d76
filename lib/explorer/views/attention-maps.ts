// What the attention view draws for one layer: per query head its raw scores
// (attn.scores), the softcapped scores (attn.capped_scores) and the pattern
// (attn.pattern), and the layer's mask, built by the model's own additiveMask
// (lib/model/masks.ts; GEMMA2.md, "Masks and positions"): causal, and on
// sliding layers also k > p - sliding_window.

import { additiveMask } from '../../model/masks.ts';
import { isSlidingLayer } from '../../model/config.ts';
import type { Gemma2Config } from '../../model/config.ts';
import { activationAt, type ForwardRun } from './forward-run.ts';
import { slice2D, type Slice2D } from './tensor-stats.ts';

export interface HeadMaps {
  scores: Slice2D;
  capped: Slice2D;
  pattern: Slice2D;
}

export interface LayerAttention {
  layer: number;
  sliding: boolean;
  /** The sliding window on sliding layers, else null. */
  window: number | null;
  /** T x T, true where query t may see key s. */
  allowed: boolean[][];
  heads: HeadMaps[];
}

/** The mask of a prompt of T tokens on a sliding or global layer: allowed[t][s]. */
export function allowedKeys(T: number, slidingWindow: number | null): boolean[][] {
  const positions = Int32Array.from({ length: T }, (_, t) => t);
  const mask = additiveMask({ queryPositions: positions, keyPositions: positions, slidingWindow: slidingWindow ?? undefined }).floatData(); // [1, 1, T, T]
  return Array.from({ length: T }, (_, t) => Array.from({ length: T }, (_, s) => mask[t * T + s] === 0));
}

export function layerAttention(config: Gemma2Config, run: ForwardRun, layer: number): LayerAttention {
  if (!Number.isInteger(layer) || layer < 0 || layer >= config.numHiddenLayers) {
    throw new RangeError(`attention view: layer ${layer} does not exist (the model has ${config.numHiddenLayers})`);
  }
  const sliding = isSlidingLayer(config, layer);
  const window = sliding ? config.slidingWindow : null;
  const read = (name: string) => activationAt(run, `layers.${layer}.attn.${name}`); // [1, heads, T, T]
  const [scores, capped, pattern] = ['scores', 'capped_scores', 'pattern'].map(read);
  const heads = Array.from({ length: config.numAttentionHeads }, (_, head) => ({
    scores: slice2D(scores.floatData(), scores.shape, [0, head]),
    capped: slice2D(capped.floatData(), capped.shape, [0, head]),
    pattern: slice2D(pattern.floatData(), pattern.shape, [0, head]),
  }));
  return { layer, sliding, window, allowed: allowedKeys(run.ids.length, window), heads };
}
