// The hook points: a stable name for every step of GEMMA2.md's forward pass,
// in TransformerLens's style (blocks' `hook_resid_pre`, `attn.hook_pattern`, ...)
// but with Transformers' module path for the layers (`layers.7.mlp.act`), so a
// trace taken from Transformers' modules (golden/make_case.py) and one taken
// from ours line up name for name.
//
// This table is the one list: the model fires its points in this order, the
// README's table is checked against it, and `gemma2 parity --trace` walks it
// to find the first point that diverges.
//
// Shapes: B batch, T this call's positions, S key slots (T without a cache),
// H hidden_size, I intermediate_size, V vocab_size (or num_labels), hd head_dim.

export interface HookPointSpec {
  /** The name, without the `layers.<i>.` prefix for per-layer points. */
  name: string;
  /** The shape, in the letters above. */
  shape: string;
  /** The GEMMA2.md step it is the output of. */
  step: string;
}

/** Before the layers. */
export const MODEL_START_POINTS: readonly HookPointSpec[] = [
  { name: 'embed', shape: '[B, T, H]', step: '1. embed[x] * sqrt(H), the multiplier rounded to float32 (hidden_states.0)' },
];

/** Every layer, as `layers.<i>.<name>`, in the order a layer computes them. */
export const LAYER_POINTS: readonly HookPointSpec[] = [
  { name: 'resid_pre', shape: '[B, T, H]', step: '2. the residual stream h entering the layer' },
  { name: 'input_norm', shape: '[B, T, H]', step: '2. a = RMSNorm_in(h)' },
  { name: 'attn.q', shape: '[B, heads, T, hd]', step: '2. q = RoPE(a Wq^T), per query head' },
  { name: 'attn.k', shape: '[B, kv_heads, T, hd]', step: '2. k = RoPE(a Wk^T), this call\'s keys (before the cache)' },
  { name: 'attn.v', shape: '[B, kv_heads, T, hd]', step: '2. v = a Wv^T, this call\'s values (before the cache)' },
  { name: 'attn.scores', shape: '[B, heads, T, S]', step: '2. s = (q k^T) * query_pre_attn_scalar^-0.5' },
  { name: 'attn.capped_scores', shape: '[B, heads, T, S]', step: '2. s = c tanh(s / c), c = attn_logit_softcapping (s itself without one)' },
  { name: 'attn.pattern', shape: '[B, heads, T, S]', step: '2. p = softmax(s + M) over keys, M the sliding or global mask' },
  { name: 'attn.z', shape: '[B, T, heads, hd]', step: '2. z = p v, each head\'s output' },
  { name: 'attn.out', shape: '[B, T, H]', step: '2. z Wo^T' },
  { name: 'post_attn_norm', shape: '[B, T, H]', step: '2. RMSNorm_post_attn(attention output)' },
  { name: 'resid_mid', shape: '[B, T, H]', step: '2. h = h + RMSNorm_post_attn(...)' },
  { name: 'pre_ff_norm', shape: '[B, T, H]', step: '2. m = RMSNorm_pre_ff(h)' },
  { name: 'mlp.gate', shape: '[B, T, I]', step: '2. m Wgate^T' },
  { name: 'mlp.up', shape: '[B, T, I]', step: '2. m Wup^T' },
  { name: 'mlp.act', shape: '[B, T, I]', step: '2. gelu_tanh(m Wgate^T)' },
  { name: 'mlp.gated', shape: '[B, T, I]', step: '2. gelu_tanh(m Wgate^T) * (m Wup^T), the input of down_proj' },
  { name: 'mlp.out', shape: '[B, T, H]', step: '2. (...) Wdown^T' },
  { name: 'post_ff_norm', shape: '[B, T, H]', step: '2. RMSNorm_post_ff(MLP output)' },
  { name: 'resid_post', shape: '[B, T, H]', step: '2. h = h + RMSNorm_post_ff(...), the layer\'s output' },
];

/** After the layers (Gemma2Model). */
export const MODEL_END_POINTS: readonly HookPointSpec[] = [
  { name: 'final_norm', shape: '[B, T, H]', step: '3. RMSNorm_final(h) (hidden_states.L, last_hidden_state)' },
];

/** The causal LM head (Gemma2ForCausalLM only); T is numLogitsToKeep when it is set. */
export const LM_HEAD_POINTS: readonly HookPointSpec[] = [
  { name: 'logits_raw', shape: '[B, T, V]', step: '4. h E^T, before the final softcap' },
  { name: 'logits', shape: '[B, T, V]', step: '4. c tanh(logits / c), c = final_logit_softcapping (the logits themselves without one)' },
];

/** Every hook point name of a model with `layers` decoder layers, in forward order. */
export function hookPointNames(layers: number, withLmHead: boolean): string[] {
  const names = MODEL_START_POINTS.map((p) => p.name);
  for (let i = 0; i < layers; i++) for (const p of LAYER_POINTS) names.push(`layers.${i}.${p.name}`);
  names.push(...MODEL_END_POINTS.map((p) => p.name));
  if (withLmHead) names.push(...LM_HEAD_POINTS.map((p) => p.name));
  return names;
}

/** The spec of a full point name (`layers.3.attn.q` -> attn.q's), or undefined for a name no model has. */
export function hookPointSpec(name: string): HookPointSpec | undefined {
  const layer = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (layer !== null) return LAYER_POINTS.find((p) => p.name === layer[2]);
  return [...MODEL_START_POINTS, ...MODEL_END_POINTS, ...LM_HEAD_POINTS].find((p) => p.name === name);
}

/** Where a full point name comes in the forward (a sort key: embed first, the head's logits last); -1 for a name no model has. */
export function hookPointOrder(name: string): number {
  const layer = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (layer !== null) {
    const index = LAYER_POINTS.findIndex((p) => p.name === layer[2]);
    return index < 0 ? -1 : MODEL_START_POINTS.length + Number(layer[1]) * LAYER_POINTS.length + index;
  }
  const start = MODEL_START_POINTS.findIndex((p) => p.name === name);
  if (start >= 0) return start;
  const end = [...MODEL_END_POINTS, ...LM_HEAD_POINTS].findIndex((p) => p.name === name);
  return end < 0 ? -1 : Number.MAX_SAFE_INTEGER / 2 + end;
}

/**
 * The axes of a point's activation that run over token positions: T (the
 * queries) and S (the keys). A golden comparison with an attention mask skips
 * the elements at padded positions on any of them.
 */
export function positionAxes(spec: HookPointSpec): number[] {
  return spec.shape
    .slice(1, -1)
    .split(',')
    .map((axis) => axis.trim())
    .flatMap((axis, i) => (axis === 'T' || axis === 'S' ? [i] : []));
}
