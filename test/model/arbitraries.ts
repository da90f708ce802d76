// Random small Gemma2 configurations and models for property tests: one kv
// head or several, head_dim * heads != hidden, with and without softcaps,
// windows shorter and longer than the sequences, random layer types, the
// default rope_theta and others (a model that ignores it must fail).

import fc from 'fast-check';
import { parseGemma2Config, type Gemma2Config } from '../../lib/model/config.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Generator } from '../../lib/tensor/random.ts';

export const configArb = fc
  .record({
    kvHeads: fc.integer({ min: 1, max: 3 }),
    groups: fc.integer({ min: 1, max: 3 }),
    headDim: fc.constantFrom(2, 4, 6, 8),
    hidden: fc.constantFrom(6, 8, 12, 16),
    intermediate: fc.integer({ min: 3, max: 20 }),
    layers: fc.integer({ min: 1, max: 3 }),
    vocab: fc.integer({ min: 3, max: 40 }),
    window: fc.integer({ min: 1, max: 12 }),
    attnCap: fc.option(fc.double({ min: 0.5, max: 20, noNaN: true }), { nil: null }),
    finalCap: fc.option(fc.double({ min: 0.5, max: 20, noNaN: true }), { nil: null }),
    scalar: fc.constantFrom(1, 4, 16, 24),
    ropeTheta: fc.constantFrom(10000, 10, 500, 1e6),
    layerTypes: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    explicitTypes: fc.boolean(),
  })
  .map(
    (r): Gemma2Config =>
      parseGemma2Config({
        model_type: 'gemma2',
        vocab_size: r.vocab,
        hidden_size: r.hidden,
        intermediate_size: r.intermediate,
        num_hidden_layers: r.layers,
        num_attention_heads: r.kvHeads * r.groups,
        num_key_value_heads: r.kvHeads,
        head_dim: r.headDim,
        query_pre_attn_scalar: r.scalar,
        rope_theta: r.ropeTheta,
        sliding_window: r.window,
        attn_logit_softcapping: r.attnCap,
        final_logit_softcapping: r.finalCap,
        pad_token_id: 0,
        bos_token_id: Math.min(2, r.vocab - 1),
        layer_types: r.explicitTypes ? r.layerTypes.slice(0, r.layers).map((s) => (s ? 'sliding_attention' : 'full_attention')) : undefined,
      }),
  );

/** A model with every weight (norms included) drawn at a scale that makes attention, softcaps and norms all matter. */
export function randomModel(config: Gemma2Config, seed: number): Gemma2ForCausalLM {
  const model = new Gemma2ForCausalLM(config);
  const generator = new Generator(seed);
  for (const [name, p] of model.namedParameters()) {
    const data = p.contiguousData();
    const std = name.endsWith('norm.weight') ? 0.3 : 0.5;
    for (let i = 0; i < data.length; i++) data[i] = std * generator.nextNormal();
  }
  return model;
}
