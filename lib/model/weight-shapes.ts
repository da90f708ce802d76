// The weights a Gemma2 config implies (GEMMA2.md, "Weights"), by Hugging Face
// name, without building a model (which would allocate them).

import type { Gemma2Config } from './config.ts';

/** Every weight of a Gemma2ForCausalLM with this config and its shape, in model order (tied head: no lm_head.weight). */
export function causalLMWeightShapes(c: Gemma2Config): [string, number[]][] {
  const shapes: [string, number[]][] = [['model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]]];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    shapes.push(
      [`${p}.self_attn.q_proj.weight`, [c.numAttentionHeads * c.headDim, c.hiddenSize]],
      [`${p}.self_attn.k_proj.weight`, [c.numKeyValueHeads * c.headDim, c.hiddenSize]],
      [`${p}.self_attn.v_proj.weight`, [c.numKeyValueHeads * c.headDim, c.hiddenSize]],
      [`${p}.self_attn.o_proj.weight`, [c.hiddenSize, c.numAttentionHeads * c.headDim]],
      [`${p}.mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize]],
      [`${p}.mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize]],
      [`${p}.mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize]],
    );
    for (const norm of ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']) {
      shapes.push([`${p}.${norm}.weight`, [c.hiddenSize]]);
    }
  }
  shapes.push(['model.norm.weight', [c.hiddenSize]]);
  return shapes;
}
