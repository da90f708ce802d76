// Gemma2Config from config.json: Transformers' defaults, layer_types, and
// errors naming the contradictory fields.

import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError, gemma2ConfigToJson, isSlidingLayer, parseGemma2Config } from '../../lib/model/config.ts';
import { goldenPath } from '../golden-files.ts';

describe('parseGemma2Config', () => {
  test('missing fields take Transformers defaults (gemma-2-2b shapes)', () => {
    const c = parseGemma2Config({ model_type: 'gemma2' });
    expect([c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers]).toEqual([256000, 2304, 9216, 26]);
    expect([c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.queryPreAttnScalar, c.slidingWindow]).toEqual([8, 4, 256, 256, 4096]);
    expect([c.attnLogitSoftcapping, c.finalLogitSoftcapping, c.rmsNormEps, c.ropeTheta]).toEqual([50, 30, 1e-6, 10000]);
    expect([c.padTokenId, c.eosTokenId, c.bosTokenId, c.tieWordEmbeddings]).toEqual([0, 1, 2, true]);
    expect(c.layerTypes.slice(0, 4)).toEqual(['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);
    expect(isSlidingLayer(c, 0)).toBe(true);
    expect(isSlidingLayer(c, 25)).toBe(false);
  });

  test('the golden configs parse, unknown fields are ignored, null softcaps mean none', () => {
    const json = JSON.parse(readFileSync(goldenPath('models/tiny/config.json'), 'utf8'));
    const c = parseGemma2Config({ ...json, some_future_field: [1, 2], attn_logit_softcapping: null, final_logit_softcapping: null });
    expect([c.hiddenSize, c.numHiddenLayers, c.headDim, c.queryPreAttnScalar, c.slidingWindow]).toEqual([64, 4, 16, 24, 8]);
    expect(c.attnLogitSoftcapping).toBeNull();
    expect(c.finalLogitSoftcapping).toBeNull();
  });

  test('layer_types is honoured when present', () => {
    const c = parseGemma2Config({ num_hidden_layers: 3, layer_types: ['full_attention', 'full_attention', 'sliding_attention'] });
    expect([0, 1, 2].map((i) => isSlidingLayer(c, i))).toEqual([false, false, true]);
  });

  test('contradictions are errors naming the fields', () => {
    expect(() => parseGemma2Config({ num_attention_heads: 6, num_key_value_heads: 4 })).toThrow(/num_attention_heads \(6\) must be a multiple of num_key_value_heads \(4\)/);
    expect(() => parseGemma2Config({ num_hidden_layers: 2, layer_types: ['full_attention'] })).toThrow(/layer_types must list one entry per layer \(num_hidden_layers = 2\)/);
    expect(() => parseGemma2Config({ num_hidden_layers: 1, layer_types: ['local'] })).toThrow(/layer_types\[0\] is "local"/);
    expect(() => parseGemma2Config({ head_dim: 15 })).toThrow(/head_dim \(15\) must be even/);
    expect(() => parseGemma2Config({ vocab_size: 10, pad_token_id: 10 })).toThrow(/pad_token_id \(10\) must be below vocab_size \(10\)/);
    expect(() => parseGemma2Config({ model_type: 'llama' })).toThrow(/model_type is "llama", expected "gemma2"/);
    expect(() => parseGemma2Config({ hidden_size: '64' })).toThrow(/hidden_size must be a positive integer, got "64"/);
    expect(() => parseGemma2Config({ attn_logit_softcapping: -1 })).toThrow(/attn_logit_softcapping must be a positive number or null/);
    expect(() => parseGemma2Config({ hidden_activation: 'relu' })).toThrow(/hidden_activation "relu" is not supported/);
    expect(() => parseGemma2Config({ num_labels: 3, id2label: { 0: 'a', 1: 'b' } })).toThrow(/num_labels \(3\) disagrees with id2label \(2 entries\)/);
    expect(() => parseGemma2Config([])).toThrow(ConfigError);
  });

  test('eos_token_id may be a list; num_labels without id2label names labels', () => {
    const c = parseGemma2Config({ eos_token_id: [1, 107], num_labels: 3 });
    expect(c.eosTokenId).toEqual([1, 107]);
    expect(c.id2label).toEqual({ 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
  });

  test('problem_type: absent or null decides per call, the three Transformers names are kept, anything else is an error', () => {
    expect(parseGemma2Config({}).problemType).toBeNull();
    expect(parseGemma2Config({ problem_type: null }).problemType).toBeNull();
    const multi = JSON.parse(readFileSync(goldenPath('models/tiny-multilabel/config.json'), 'utf8'));
    expect(parseGemma2Config(multi).problemType).toBe('multi_label_classification');
    for (const t of ['regression', 'single_label_classification']) expect(parseGemma2Config({ problem_type: t }).problemType).toBe(t);
    expect(() => parseGemma2Config({ problem_type: 'multi_label' })).toThrow(
      /config: problem_type must be one of "regression", "single_label_classification", "multi_label_classification" or null, got "multi_label"/,
    );
    expect(parseGemma2Config(gemma2ConfigToJson(parseGemma2Config(multi))).problemType).toBe('multi_label_classification');
  });

  test('writing the config back gives the same config', () => {
    const json = JSON.parse(readFileSync(goldenPath('models/tiny-seqcls/config.json'), 'utf8'));
    const c = parseGemma2Config(json);
    expect(parseGemma2Config(gemma2ConfigToJson(c))).toEqual(c);
  });
});
