// The small Gemma2 the trainer tests train: 2 layers of width 16, a vocabulary of 32, a sliding window of 4.

import { parseGemma2Config } from '../../lib/model/config.ts';

export const TINY_TRAIN_VOCAB = 32;

export const tinyTrainConfig = parseGemma2Config({
  model_type: 'gemma2',
  vocab_size: TINY_TRAIN_VOCAB,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  head_dim: 8,
  query_pre_attn_scalar: 8,
  sliding_window: 4,
});
