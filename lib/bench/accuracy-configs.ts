// The models `npm run bench:accuracy` measures (lib/bench/accuracy.ts):
// Gemma2's real layer shapes (gemma-2-2b, -9b, -27b) with fewer layers and a
// reduced vocabulary of 4096, and the scales their random weights are drawn
// with (realisticScales). `tiny` is the --check model (fast, every feature exercised hard).

import { GEMMA2_DEFAULTS } from '../model/config.ts';

/** How the seeded random weights are drawn (then rounded to bf16): normal(mean, std) per kind of weight. */
export interface WeightScales {
  /** Every Linear weight (q, k, v, o, gate, up, down). */
  linear: { mean: number; std: number };
  /** The (tied) embedding. */
  embedding: { mean: number; std: number };
  /** input_layernorm and pre_feedforward_layernorm (Gemma multiplies by 1 + w). */
  preNorm: { mean: number; std: number };
  /** post_attention_layernorm and post_feedforward_layernorm: their (1 + w) sets the size of what each branch adds to the residual stream. */
  postNorm: { mean: number; std: number };
  /** model.norm.weight. */
  finalNorm: { mean: number; std: number };
}

/**
 * The scales of the real-shape configs, for a model of `layers` layers standing
 * in for a real one of `fullDepth` (26, 42, 46):
 *   - Linear and embedding weights normal(0, 0.02), Transformers' initializer_range;
 *   - input, pre-feed-forward and final norms normal(0, 0.1): (1 + w) = 1 +- 10% per channel;
 *   - post-attention and post-feed-forward norms normal(sqrt(fullDepth / layers) - 1, 0.1),
 *     so each branch adds rms sqrt(fullDepth / layers) to the residual stream and the
 *     stream after the reduced stack is as large as after the real depth (rms ~7-10,
 *     against ~1 for the scaled embedding). Without that the few layers leave the
 *     stream dominated by the token's own embedding, which the tied head turns into a
 *     logit of 25-50 for the input token itself (9b, 27b): the final cap would flatten
 *     it and the loss would be ~25.
 * What comes out (measured): attention scores up to ~4-9 (the cap 50 bends them by
 * 0.3-1%), logits with std ~1-1.4 and a maximum of 8-16 before the cap (the cap 30
 * takes 2-9% off the largest), a loss of 9-12 (log 4096 = 8.3).
 */
export function realisticScales(fullDepth: number, layers: number): WeightScales {
  return {
    linear: { mean: 0, std: 0.02 },
    embedding: { mean: 0, std: 0.02 },
    preNorm: { mean: 0, std: 0.1 },
    postNorm: { mean: Math.sqrt(fullDepth / layers) - 1, std: 0.1 },
    finalNorm: { mean: 0, std: 0.1 },
  };
}

export interface AccuracyConfig {
  name: string;
  /** What the shapes are. */
  description: string;
  /** The Hugging Face config.json (model_type gemma2). */
  config: Record<string, unknown>;
  /** The weight scales for a given number of layers (--layers changes it). */
  scales: (layers: number) => WeightScales;
  /** Seed of the weights; the inputs use seed + 1. */
  seed: number;
  batch: number;
  seq: number;
  /** Row 1 starts with this many pad tokens (attention_mask 0); the other rows are unpadded. */
  leftPad: number;
  /** Also compare the gradients of every weight (the smallest real config). */
  grads: boolean;
  /** Weight files to write (2 or more: model-0000i-of-0000N.safetensors with an index). */
  shards: number;
}

/** Fields every config shares: the real models' (GEMMA2.md), with a short window so the sliding mask matters at T = 64. */
const COMMON = {
  ...GEMMA2_DEFAULTS,
  model_type: 'gemma2',
  architectures: ['Gemma2ForCausalLM'],
  vocab_size: 4096,
  sliding_window: 16,
  torch_dtype: 'bfloat16',
};

const RUN = { batch: 2, seq: 64, leftPad: 8 };

export const ACCURACY_CONFIGS: AccuracyConfig[] = [
  {
    name: '2b',
    description: 'gemma-2-2b layers',
    config: { ...COMMON, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 256, query_pre_attn_scalar: 256 },
    ...RUN,
    scales: (layers) => realisticScales(26, layers),
    seed: 2,
    grads: true,
    shards: 2,
  },
  {
    name: '9b',
    description: 'gemma-2-9b layers',
    config: { ...COMMON, hidden_size: 3584, intermediate_size: 14336, num_hidden_layers: 4, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 256, query_pre_attn_scalar: 256 },
    ...RUN,
    scales: (layers) => realisticScales(42, layers),
    seed: 9,
    grads: false,
    shards: 1,
  },
  {
    name: '27b',
    description: 'gemma-2-27b layers',
    config: { ...COMMON, hidden_size: 4608, intermediate_size: 36864, num_hidden_layers: 2, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, query_pre_attn_scalar: 144 },
    ...RUN,
    scales: (layers) => realisticScales(46, layers),
    seed: 27,
    grads: false,
    shards: 1,
  },
];

/**
 * The --check model: tiny, so that the PyTorch side can be checked against
 * reference/gemma2.ts in float64 to ~1e-13 in seconds. Small softcaps (5 and 3)
 * so both tanh caps bend hard, head_dim * heads != hidden, grouped-query
 * attention, a window shorter than the sequence, a left-padded row.
 */
export const TINY_CONFIG: AccuracyConfig = {
  name: 'tiny',
  description: 'check model',
  config: {
    ...COMMON,
    vocab_size: 101,
    hidden_size: 48,
    intermediate_size: 80,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    query_pre_attn_scalar: 12,
    sliding_window: 5,
    attn_logit_softcapping: 5.0,
    final_logit_softcapping: 3.0,
  },
  scales: () => ({
    linear: { mean: 0, std: 0.15 },
    embedding: { mean: 0, std: 0.3 },
    preNorm: { mean: 0, std: 0.3 },
    postNorm: { mean: 0, std: 0.3 },
    finalNorm: { mean: 1, std: 0.3 },
  }),
  seed: 1,
  batch: 3,
  seq: 13,
  leftPad: 4,
  grads: true,
  shards: 2,
};
