// Gemma2Config: every field of a Hugging Face Gemma2 `config.json`, with
// Transformers' defaults for the missing ones (GEMMA2.md, "Configuration").
// Unknown fields are ignored; contradictory ones are an error naming them.

export type LayerType = 'sliding_attention' | 'full_attention';

/** What the sequence-classification loss is (Transformers' `problem_type`). */
export const PROBLEM_TYPES = ['regression', 'single_label_classification', 'multi_label_classification'] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];

export interface Gemma2Config {
  /** Rows of the embedding (and logits of the causal LM). */
  vocabSize: number;
  /** Model width H. */
  hiddenSize: number;
  /** MLP width. */
  intermediateSize: number;
  /** Number of decoder layers L. */
  numHiddenLayers: number;
  /** Query heads. */
  numAttentionHeads: number;
  /** Key/value heads; each serves numAttentionHeads / numKeyValueHeads query heads. */
  numKeyValueHeads: number;
  /** Width of one head; independent of hiddenSize / numAttentionHeads. */
  headDim: number;
  /** Attention scores are scaled by queryPreAttnScalar ** -0.5 (not headDim ** -0.5). */
  queryPreAttnScalar: number;
  /** Positions a sliding layer sees, the query's own included. */
  slidingWindow: number;
  /** Cap c on attention scores (s = c tanh(s / c)), or null for none. */
  attnLogitSoftcapping: number | null;
  /** Cap on the output logits, or null for none. */
  finalLogitSoftcapping: number | null;
  rmsNormEps: number;
  ropeTheta: number;
  /** Only 'gelu_pytorch_tanh' (GELU, tanh approximation) is defined for Gemma2. */
  hiddenActivation: string;
  maxPositionEmbeddings: number;
  /** The LM head reuses the embedding matrix. */
  tieWordEmbeddings: boolean;
  padTokenId: number | null;
  /** One id or several; generation stops at any of them. */
  eosTokenId: number | number[] | null;
  bosTokenId: number | null;
  attentionBias: boolean;
  attentionDropout: number;
  /** Standard deviation of the normal initialisation. */
  initializerRange: number;
  /** Per layer: sliding-window or full attention. Default: even layers slide. */
  layerTypes: LayerType[];
  /** Classification heads: number of labels and their names. */
  numLabels: number;
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  /**
   * The sequence-classification loss, or null to decide per call as
   * Transformers does: regression for one label, else single-label for
   * integer labels, multi-label for float ones.
   */
  problemType: ProblemType | null;
  /** dtype the weights were saved in ('float32', 'bfloat16', 'float16'). */
  torchDtype: string | null;
  architectures: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Transformers' Gemma2Config defaults (gemma-2-2b shapes), for fields a config.json leaves out. */
export const GEMMA2_DEFAULTS = {
  vocab_size: 256000,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  query_pre_attn_scalar: 256, // gemma-2-2b's, as in Transformers since huggingface/transformers#34540
  sliding_window: 4096,
  attn_logit_softcapping: 50.0,
  final_logit_softcapping: 30.0,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 8192,
  tie_word_embeddings: true,
  pad_token_id: 0,
  eos_token_id: 1,
  bos_token_id: 2,
  attention_bias: false,
  attention_dropout: 0.0,
  initializer_range: 0.02,
} as const;

type Json = Record<string, unknown>;

function positiveInteger(json: Json, key: keyof typeof GEMMA2_DEFAULTS): number {
  const value = json[key] ?? GEMMA2_DEFAULTS[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(`config: ${key} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveNumber(json: Json, key: keyof typeof GEMMA2_DEFAULTS): number {
  const value = json[key] ?? GEMMA2_DEFAULTS[key];
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new ConfigError(`config: ${key} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A softcap: a positive number, or null/absent-as-null when the file says null. */
function softcap(json: Json, key: 'attn_logit_softcapping' | 'final_logit_softcapping'): number | null {
  const value = key in json ? json[key] : GEMMA2_DEFAULTS[key];
  if (value === null) return null;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new ConfigError(`config: ${key} must be a positive number or null, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalTokenId(json: Json, key: 'pad_token_id' | 'bos_token_id'): number | null {
  const value = key in json ? json[key] : GEMMA2_DEFAULTS[key];
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(`config: ${key} must be a non-negative integer or null, got ${JSON.stringify(value)}`);
  }
  return value;
}

function eosTokenIds(json: Json): number | number[] | null {
  const value = 'eos_token_id' in json ? json.eos_token_id : GEMMA2_DEFAULTS.eos_token_id;
  if (value === null) return null;
  const ids = Array.isArray(value) ? value : [value];
  if (ids.length === 0 || ids.some((id) => typeof id !== 'number' || !Number.isInteger(id) || id < 0)) {
    throw new ConfigError(`config: eos_token_id must be a non-negative integer, a non-empty list of them, or null, got ${JSON.stringify(value)}`);
  }
  return Array.isArray(value) ? (ids as number[]) : (value as number);
}

/** Reads a parsed `config.json`. Throws ConfigError naming every contradiction it finds first. */
export function parseGemma2Config(json: unknown): Gemma2Config {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError('config: expected a JSON object');
  }
  const c = json as Json;
  if (c.model_type !== undefined && c.model_type !== 'gemma2') {
    throw new ConfigError(`config: model_type is ${JSON.stringify(c.model_type)}, expected "gemma2"`);
  }
  const numHiddenLayers = positiveInteger(c, 'num_hidden_layers');
  const numAttentionHeads = positiveInteger(c, 'num_attention_heads');
  const numKeyValueHeads = positiveInteger(c, 'num_key_value_heads');
  const headDim = positiveInteger(c, 'head_dim');
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ConfigError(`config: num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`);
  }
  if (headDim % 2 !== 0) {
    throw new ConfigError(`config: head_dim (${headDim}) must be even: rotary embeddings rotate pairs of halves`);
  }
  const hiddenActivation = c.hidden_activation ?? c.hidden_act ?? GEMMA2_DEFAULTS.hidden_activation;
  if (hiddenActivation !== 'gelu_pytorch_tanh' && hiddenActivation !== 'gelu_tanh') {
    throw new ConfigError(`config: hidden_activation ${JSON.stringify(hiddenActivation)} is not supported; Gemma2 uses "gelu_pytorch_tanh"`);
  }

  let layerTypes: LayerType[];
  if (c.layer_types !== undefined && c.layer_types !== null) {
    if (!Array.isArray(c.layer_types) || c.layer_types.length !== numHiddenLayers) {
      throw new ConfigError(`config: layer_types must list one entry per layer (num_hidden_layers = ${numHiddenLayers}), got ${JSON.stringify(c.layer_types)}`);
    }
    const bad = c.layer_types.findIndex((t) => t !== 'sliding_attention' && t !== 'full_attention');
    if (bad >= 0) {
      throw new ConfigError(`config: layer_types[${bad}] is ${JSON.stringify(c.layer_types[bad])}, expected "sliding_attention" or "full_attention"`);
    }
    layerTypes = c.layer_types as LayerType[];
  } else {
    // Transformers: a layer slides when its index is even (Gemma2's alternation, huggingface/transformers#31659).
    layerTypes = Array.from({ length: numHiddenLayers }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
  }

  if (c.num_labels !== undefined && (typeof c.num_labels !== 'number' || !Number.isInteger(c.num_labels) || c.num_labels < 1)) {
    throw new ConfigError(`config: num_labels must be a positive integer, got ${JSON.stringify(c.num_labels)}`);
  }
  const defaultLabels = typeof c.num_labels === 'number' ? c.num_labels : 2;
  const id2label =
    (c.id2label as Record<string, string> | undefined) ?? Object.fromEntries(Array.from({ length: defaultLabels }, (_, i) => [String(i), `LABEL_${i}`]));
  const numLabels = typeof c.num_labels === 'number' ? c.num_labels : Object.keys(id2label).length;
  if (c.num_labels !== undefined && c.id2label !== undefined && Object.keys(id2label).length !== numLabels) {
    throw new ConfigError(`config: num_labels (${numLabels}) disagrees with id2label (${Object.keys(id2label).length} entries)`);
  }
  const label2id = (c.label2id as Record<string, number> | undefined) ?? Object.fromEntries(Object.entries(id2label).map(([id, label]) => [label, Number(id)]));

  const problemType = c.problem_type ?? null;
  if (problemType !== null && !PROBLEM_TYPES.includes(problemType as ProblemType)) {
    throw new ConfigError(`config: problem_type must be one of ${PROBLEM_TYPES.map((t) => JSON.stringify(t)).join(', ')} or null, got ${JSON.stringify(problemType)}`);
  }

  const attentionDropout = c.attention_dropout ?? GEMMA2_DEFAULTS.attention_dropout;
  if (typeof attentionDropout !== 'number' || attentionDropout < 0 || attentionDropout >= 1) {
    throw new ConfigError(`config: attention_dropout must be in [0, 1), got ${JSON.stringify(attentionDropout)}`);
  }
  const flag = (key: 'tie_word_embeddings' | 'attention_bias'): boolean => {
    const value = c[key] ?? GEMMA2_DEFAULTS[key];
    if (typeof value !== 'boolean') throw new ConfigError(`config: ${key} must be true or false, got ${JSON.stringify(value)}`);
    return value;
  };

  const config: Gemma2Config = {
    vocabSize: positiveInteger(c, 'vocab_size'),
    hiddenSize: positiveInteger(c, 'hidden_size'),
    intermediateSize: positiveInteger(c, 'intermediate_size'),
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    queryPreAttnScalar: positiveNumber(c, 'query_pre_attn_scalar'),
    slidingWindow: positiveInteger(c, 'sliding_window'),
    attnLogitSoftcapping: softcap(c, 'attn_logit_softcapping'),
    finalLogitSoftcapping: softcap(c, 'final_logit_softcapping'),
    rmsNormEps: positiveNumber(c, 'rms_norm_eps'),
    ropeTheta: positiveNumber(c, 'rope_theta'),
    hiddenActivation: 'gelu_pytorch_tanh',
    maxPositionEmbeddings: positiveInteger(c, 'max_position_embeddings'),
    tieWordEmbeddings: flag('tie_word_embeddings'),
    padTokenId: optionalTokenId(c, 'pad_token_id'),
    eosTokenId: eosTokenIds(c),
    bosTokenId: optionalTokenId(c, 'bos_token_id'),
    attentionBias: flag('attention_bias'),
    attentionDropout,
    initializerRange: positiveNumber(c, 'initializer_range'),
    layerTypes,
    numLabels,
    id2label,
    label2id,
    problemType: problemType as ProblemType | null,
    torchDtype: typeof c.torch_dtype === 'string' ? c.torch_dtype : null,
    architectures: Array.isArray(c.architectures) ? (c.architectures as string[]) : [],
  };
  // Special tokens index the embedding: an id outside [0, vocab_size) would
  // fail (or read another token's row) only once generation or padding uses it.
  const tokenIds: [string, number | null][] = [
    ['pad_token_id', config.padTokenId],
    ['bos_token_id', config.bosTokenId],
    ...(Array.isArray(config.eosTokenId) ? config.eosTokenId.map((id, i): [string, number] => [`eos_token_id[${i}]`, id]) : [['eos_token_id', config.eosTokenId] as [string, number | null]]),
  ];
  for (const [field, id] of tokenIds) {
    if (id !== null && id >= config.vocabSize) {
      throw new ConfigError(`config: ${field} (${id}) must be below vocab_size (${config.vocabSize}): token ids index the vocabulary [0, ${config.vocabSize})`);
    }
  }
  return config;
}

/** The config as Transformers writes it in `config.json` (snake_case). */
export function gemma2ConfigToJson(config: Gemma2Config): Record<string, unknown> {
  return {
    architectures: config.architectures,
    model_type: 'gemma2',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    query_pre_attn_scalar: config.queryPreAttnScalar,
    sliding_window: config.slidingWindow,
    attn_logit_softcapping: config.attnLogitSoftcapping,
    final_logit_softcapping: config.finalLogitSoftcapping,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    hidden_activation: config.hiddenActivation,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    pad_token_id: config.padTokenId,
    eos_token_id: config.eosTokenId,
    bos_token_id: config.bosTokenId,
    attention_bias: config.attentionBias,
    attention_dropout: config.attentionDropout,
    initializer_range: config.initializerRange,
    layer_types: config.layerTypes,
    num_labels: config.numLabels,
    id2label: config.id2label,
    label2id: config.label2id,
    problem_type: config.problemType,
    torch_dtype: config.torchDtype ?? 'float32',
  };
}

/** Whether layer `i` uses the sliding-window mask. */
export function isSlidingLayer(config: Gemma2Config, i: number): boolean {
  return config.layerTypes[i] === 'sliding_attention';
}
