// Where the golden files are (golden/, copied from ../shared/golden), and the
// weight names and shapes a Gemma2 config.json implies (GEMMA2.md, "Weights").
// A missing golden file fails the tests that need it; nothing is skipped.

import { fileURLToPath } from 'node:url';

export function goldenPath(relative: string): string {
  return fileURLToPath(new URL(`../golden/${relative}`, import.meta.url));
}

/** Every weight of a Gemma2ForCausalLM (tied head: no lm_head.weight) with its shape. */
export function expectedGemma2Shapes(config: Record<string, unknown>): Map<string, number[]> {
  const n = (key: string): number => {
    const value = config[key];
    if (typeof value !== 'number') throw new Error(`config.json has no number ${key}`);
    return value;
  };
  const [V, H, I, L] = [n('vocab_size'), n('hidden_size'), n('intermediate_size'), n('num_hidden_layers')];
  const [heads, kvHeads, headDim] = [n('num_attention_heads'), n('num_key_value_heads'), n('head_dim')];
  const shapes = new Map<string, number[]>([['model.embed_tokens.weight', [V, H]]]);
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}`;
    shapes.set(`${p}.self_attn.q_proj.weight`, [heads * headDim, H]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [kvHeads * headDim, H]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [kvHeads * headDim, H]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [H, heads * headDim]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [I, H]);
    shapes.set(`${p}.mlp.up_proj.weight`, [I, H]);
    shapes.set(`${p}.mlp.down_proj.weight`, [H, I]);
    for (const norm of ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']) {
      shapes.set(`${p}.${norm}.weight`, [H]);
    }
  }
  shapes.set('model.norm.weight', [H]);
  return shapes;
}
