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
  { name: 'input_norm', shape: '[B, T, H]', step: '2a. a = RMSNorm_in(h)' },
  { name: 'attn.q', shape: '[B, heads, T, hd]', step: '2b. q = RoPE(a Wq^T), per query head' },
  { name: 'attn.k', shape: '[B, kv_heads, T, hd]', step: '2b. k = RoPE(a Wk^T), this call\'s keys (before the cache)' },
  { name: 'attn.v', shape: '[B, kv_heads, T, hd]', step: '2b. v = a Wv^T, this call\'s values (before the cache)' },
  { name: 'attn.scores', shape: '[B, heads, T, S]', step: '2c. s = (q k^T) * query_pre_attn_scalar^-0.5' },
  { name: 'attn.capped_scores', shape: '[B, heads, T, S]', step: '2c. s = c tanh(s / c), c = attn_logit_softcapping (s itself without one)' },
  { name: 'attn.pattern', shape: '[B, heads, T, S]', step: '2c. p = softmax(s + M) over keys, M the sliding or global mask' },
  { name: 'attn.z', shape: '[B, T, heads, hd]', step: '2c. z = p v, each head\'s output' },
  { name: 'attn.out', shape: '[B, T, H]', step: '2c. z Wo^T' },
  { name: 'post_attn_norm', shape: '[B, T, H]', step: '2d. RMSNorm_post_attn(attention output)' },
  { name: 'resid_mid', shape: '[B, T, H]', step: '2d. h = h + RMSNorm_post_attn(...)' },
  { name: 'pre_ff_norm', shape: '[B, T, H]', step: '2e. m = RMSNorm_pre_ff(h)' },
  { name: 'mlp.gate', shape: '[B, T, I]', step: '2e. m Wgate^T' },
  { name: 'mlp.up', shape: '[B, T, I]', step: '2e. m Wup^T' },
  { name: 'mlp.act', shape: '[B, T, I]', step: '2e. gelu_tanh(m Wgate^T)' },
  { name: 'mlp.gated', shape: '[B, T, I]', step: '2e. gelu_tanh(m Wgate^T) * (m Wup^T), the input of down_proj' },
  { name: 'mlp.out', shape: '[B, T, H]', step: '2e. (...) Wdown^T' },
  { name: 'post_ff_norm', shape: '[B, T, H]', step: '2f. RMSNorm_post_ff(MLP output)' },
  { name: 'resid_post', shape: '[B, T, H]', step: '2f. h = h + RMSNorm_post_ff(...), the layer\'s output' },
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
