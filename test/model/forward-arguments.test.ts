// The arguments of Transformers' forward besides the ids: inputsEmbeds (scaled
// by sqrt(H) like looked-up rows), numLogitsToKeep (0 keeps every position, as
// in 4.47), outputAttentions (with a cache too), and their errors.

import { describe, expect, test } from 'vitest';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Gemma2ForSequenceClassification } from '../../lib/model/classification.ts';
import { HybridCache } from '../../lib/generation/hybrid-cache.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { embedding } from '../../lib/ops/index.ts';
import { goldenPath } from '../golden-files.ts';

const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
const T = 6;
const ids = Tensor.fromData(Int32Array.from([5, 9, 200, 31, 17, 64, 3, 3, 90, 121, 250, 7]), [2, T]);
const bits = (t: Tensor) => Array.from(t.contiguousData());

describe('inputsEmbeds', () => {
  test('the embedding rows of the ids give the same logits, bit for bit', () => {
    const rows = embedding(ids, model.model.embedTokens);
    const fromIds = noGrad(() => model.forward({ inputIds: ids, outputHiddenStates: true }));
    const fromEmbeds = noGrad(() => model.forward({ inputsEmbeds: rows, outputHiddenStates: true }));
    expect(bits(fromEmbeds.logits)).toEqual(bits(fromIds.logits));
    expect(bits(fromEmbeds.hiddenStates![0])).toEqual(bits(fromIds.hiddenStates![0])); // scaled by sqrt(H) in both
  });

  test('a sequence classifier pools the last position when there are no ids to find padding in', () => {
    const classifier = Gemma2ForSequenceClassification.fromPretrained(goldenPath('models/tiny-seqcls'));
    const noPadding = Tensor.fromData(Int32Array.from([5, 9, 200, 31, 17, 64]), [1, T]);
    const fromIds = noGrad(() => classifier.forward({ inputIds: noPadding }));
    const fromEmbeds = noGrad(() => classifier.forward({ inputsEmbeds: embedding(noPadding, classifier.model.embedTokens) }));
    expect(bits(fromEmbeds.logits)).toEqual(bits(fromIds.logits));
  });

  test('exactly one of inputIds and inputsEmbeds, of the right shape', () => {
    const rows = embedding(ids, model.model.embedTokens);
    expect(() => model.forward({ inputIds: ids, inputsEmbeds: rows })).toThrow(/exactly one of inputIds and inputsEmbeds/);
    expect(() => model.forward({})).toThrow(/exactly one of inputIds and inputsEmbeds/);
    expect(() => model.forward({ inputsEmbeds: rows.narrow(2, 0, 10) })).toThrow(/inputsEmbeds must be float32 \[B, T, 64\].*\[2, 6, 10\]/);
    expect(() => model.forward({ inputsEmbeds: ids })).toThrow(/inputsEmbeds must be float32/);
  });
});

describe('numLogitsToKeep', () => {
  test('the last k positions are the full logits\' last k rows; 0 keeps every position', () => {
    const full = noGrad(() => model.forward({ inputIds: ids })).logits;
    const last2 = noGrad(() => model.forward({ inputIds: ids, numLogitsToKeep: 2 })).logits;
    expect(last2.shape).toEqual([2, 2, 256]);
    expect(bits(last2)).toEqual(bits(full.narrow(1, T - 2, 2)));
    expect(bits(noGrad(() => model.forward({ inputIds: ids, numLogitsToKeep: 0 })).logits)).toEqual(bits(full));
    expect(noGrad(() => model.forward({ inputIds: ids, numLogitsToKeep: 100 })).logits.shape).toEqual([2, T, 256]);
  });

  test('a loss needs every position; a negative or fractional count is an error', () => {
    expect(() => model.forward({ inputIds: ids, labels: ids, numLogitsToKeep: 1 })).toThrow(/labels need the logits of every position; numLogitsToKeep 1 keeps 1 of 6/);
    expect(() => model.forward({ inputIds: ids, numLogitsToKeep: -1 })).toThrow(/numLogitsToKeep must be a whole number >= 0/);
    expect(() => model.forward({ inputIds: ids, numLogitsToKeep: 1.5 })).toThrow(/numLogitsToKeep must be a whole number >= 0/);
  });
});

describe('outputAttentions', () => {
  test('one [B, heads, T, S] tensor per layer; with a cache, S is the slots each layer attends over', () => {
    const plain = noGrad(() => model.forward({ inputIds: ids, outputAttentions: true }));
    expect(plain.attentions!.map((a) => a.shape)).toEqual(model.model.layers.map(() => [2, 4, T, T]));
    expect(noGrad(() => model.forward({ inputIds: ids })).attentions).toBeUndefined();

    const cache = new HybridCache(model.config, { batch: 2, maxCacheLen: 16 });
    noGrad(() => model.forward({ inputIds: ids, cache }));
    const step = noGrad(() => model.forward({ inputIds: ids.narrow(1, 0, 1).contiguous(), cache, outputAttentions: true }));
    step.attentions!.forEach((a, i) => {
      // a sliding layer writes the token into its ring first and attends over the window's slots;
      // a global one over every position so far (the 6 cached and this one)
      expect(a.shape, `layer ${i}`).toEqual([2, 4, 1, model.model.layers[i].isSliding ? model.config.slidingWindow : T + 1]);
      const total = Array.from(a.contiguousData()).reduce((s, v) => s + v, 0);
      expect(total).toBeCloseTo(2 * 4, 4); // every row is a distribution
    });
  });
});
