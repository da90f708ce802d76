// generate(): greedy decoding equals argmax of the full forward; sampling
// processors in Transformers' order against hand-computed examples; seeded
// sampling is reproducible; stopping at end tokens (one or several) and at
// maxNewTokens; the streaming callback; left-padded batches; errors.

import { describe, expect, test } from 'vitest';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { generate, positionsFromMask } from '../../lib/generation/generate.ts';
import { applyRepetitionPenalty, applyTopK, applyTopP, argmax, draw, sampleToken, softmax } from '../../lib/generation/sampling.ts';
import { randomModel } from '../model/arbitraries.ts';

const config = parseGemma2Config({
  vocab_size: 32, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
  head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 4, eos_token_id: 1, pad_token_id: 0,
});
const model = randomModel(config, 5);
const prompt = Tensor.fromData(Int32Array.of(2, 7, 9, 4, 12), [1, 5]);

describe('greedy', () => {
  test('each new token is the argmax of a full forward over the sequence so far', () => {
    const { sequences, newTokens, stepLogits } = generate(model, prompt, { maxNewTokens: 8, eosTokenId: null, returnStepLogits: true });
    expect(newTokens[0]).toHaveLength(8);
    for (let step = 0; step < 8; step++) {
      const sofar = sequences[0].slice(0, 5 + step);
      const logits = noGrad(() => model.forward({ inputIds: Tensor.fromData(Int32Array.from(sofar), [1, sofar.length]) }).logits);
      const last = logits.narrow(1, sofar.length - 1, 1).contiguousData();
      expect(newTokens[0][step]).toBe(argmax(last));
      const chosenFrom = stepLogits!.narrow(1, step, 1).contiguousData();
      chosenFrom.forEach((v, i) => expect(Math.abs(v - last[i])).toBeLessThan(1e-4));
    }
  });

  test('stops at an end token (one id or a list) and pads finished rows while others continue', () => {
    const rows = [[2, 7, 9, 4, 12], [3, 8, 8, 8, 5]];
    const alone = (ids: number[], eosTokenId: number | number[] | null) =>
      generate(model, Tensor.fromData(Int32Array.from(ids), [1, ids.length]), { maxNewTokens: 6, eosTokenId }).newTokens[0];
    const free = rows.map((ids) => alone(ids, null));
    // an end token that row 1 produces before its last step and row 0 never produces
    const stopAt = free[1].find((t) => t !== 0 && !free[0].includes(t));
    expect(stopAt, `free runs ${JSON.stringify(free)}`).toBeDefined();
    const cut = free[1].indexOf(stopAt!) + 1;
    expect(cut).toBeLessThan(6);
    expect(alone(rows[1], stopAt!)).toEqual(free[1].slice(0, cut)); // a lone row stops right there
    const both = generate(model, Tensor.fromData(Int32Array.from(rows.flat()), [2, 5]), { maxNewTokens: 6, eosTokenId: [999, stopAt!] });
    expect(both.newTokens[0]).toEqual(free[0]);
    expect(both.newTokens[1]).toEqual([...free[1].slice(0, cut), ...new Array<number>(6 - cut).fill(config.padTokenId!)]);
  });

  test('the callback sees every step; maxNewTokens 0 generates nothing', () => {
    const seen: number[][] = [];
    const result = generate(model, prompt, { maxNewTokens: 4, eosTokenId: null, onToken: (tokens, step) => seen.push([step, ...tokens]) });
    expect(seen).toEqual(result.newTokens[0].map((t, step) => [step, t]));
    expect(generate(model, prompt, { maxNewTokens: 0 }).sequences[0]).toEqual([2, 7, 9, 4, 12]);
  });

  test('a left-padded batch gives each row what it gives alone', () => {
    const short = [5, 11, 3];
    const long = [2, 7, 9, 4, 12];
    const batch = Tensor.fromData(Int32Array.from([0, 0, ...short, ...long]), [2, 5]);
    const mask = Tensor.fromData(Int32Array.from([0, 0, 1, 1, 1, 1, 1, 1, 1, 1]), [2, 5]);
    const together = generate(model, batch, { maxNewTokens: 6, attentionMask: mask, eosTokenId: null });
    const alone = [short, long].map((ids) => generate(model, Tensor.fromData(Int32Array.from(ids), [1, ids.length]), { maxNewTokens: 6, eosTokenId: null }).newTokens[0]);
    expect(together.newTokens).toEqual(alone);
  });

  test('positions from a mask follow Transformers: cumsum - 1, pads get 1', () => {
    expect(positionsFromMask([[0, 0, 1, 1, 1]]).map((r) => Array.from(r))).toEqual([[1, 1, 0, 1, 2]]);
  });

  test('bad input is an error naming the problem', () => {
    expect(() => generate(model, Tensor.fromData(Int32Array.of(2, 40), [1, 2]), { maxNewTokens: 1 })).toThrow(/token id 40 \(row 0, position 1\) is outside the vocabulary \[0, 32\)/);
    expect(() => generate(model, prompt, { maxNewTokens: -1 })).toThrow(/maxNewTokens must be a non-negative integer/);
    expect(() => generate(model, prompt, { maxNewTokens: 3, maxCacheLen: 6 })).toThrow(/exceed maxCacheLen 6/);
    expect(() => generate(model, prompt, { maxNewTokens: 1, doSample: true, topP: 0 })).toThrow(/topP must be in \(0, 1\]/);
    expect(() => generate(model, prompt, { maxNewTokens: 1, attentionMask: Tensor.fromData(Int32Array.of(1, 1), [1, 2]) })).toThrow(/attentionMask \[1, 2\] must match inputIds \[1, 5\]/);
  });
});

describe('sampling', () => {
  test('the same seed gives the same tokens; other seeds differ', () => {
    const options = { maxNewTokens: 12, doSample: true, temperature: 1.5, topK: 0, eosTokenId: null };
    const a = generate(model, prompt, { ...options, seed: 1 }).newTokens[0];
    expect(generate(model, prompt, { ...options, seed: 1 }).newTokens[0]).toEqual(a);
    const others = [2, 3, 4, 5].map((seed) => generate(model, prompt, { ...options, seed }).newTokens[0]);
    expect(others.some((o) => o.join() !== a.join())).toBe(true);
  });

  test('repetition penalty divides positive and multiplies negative scores of seen tokens', () => {
    const scores = Float64Array.of(2, -2, 1, 4);
    applyRepetitionPenalty(scores, [0, 1, 1], 2);
    expect(Array.from(scores)).toEqual([1, -4, 1, 4]);
  });

  test('top-k keeps the k largest, ties with the k-th included', () => {
    const scores = Float64Array.of(1, 5, 3, 3, 0);
    applyTopK(scores, 2);
    expect(Array.from(scores)).toEqual([-Infinity, 5, 3, 3, -Infinity]);
  });

  test('top-p keeps the smallest set reaching p, and always the best token', () => {
    // probabilities 0.5, 0.3, 0.2 (logits as logs)
    const scores = Float64Array.of(Math.log(0.2), Math.log(0.5), Math.log(0.3));
    applyTopP(scores, 0.75);
    expect(scores[0]).toBe(-Infinity);
    expect(Number.isFinite(scores[1]) && Number.isFinite(scores[2])).toBe(true);
    const tiny = Float64Array.of(0, 10, 1);
    applyTopP(tiny, 0.01);
    expect(Array.from(tiny).map(Number.isFinite)).toEqual([false, true, false]);
  });

  test('top-p removes a token whose cumulative probability equals 1 - p exactly (<=, as TopPLogitsWarper)', () => {
    // sorted ascending, the cumulative probabilities are 0.25, 0.5, 0.75, 1 (all exact in binary);
    // 1 - 0.75 = 0.25 exactly, so the first token goes and three stay
    const tie = Float64Array.of(0, 0, 0, 0);
    applyTopP(tie, 0.75);
    expect(Array.from(tie).filter(Number.isFinite)).toHaveLength(3);
    // with p a hair above 0.75 nothing is removed; at p = 0.25 the sums 0.25, 0.5 and 0.75 are all <= 0.75
    const above = Float64Array.of(0, 0, 0, 0);
    applyTopP(above, 0.7500001);
    expect(Array.from(above).filter(Number.isFinite)).toHaveLength(4);
    const quarter = Float64Array.of(0, 0, 0, 0);
    applyTopP(quarter, 0.25);
    expect(Array.from(quarter).filter(Number.isFinite)).toHaveLength(1);
  });

  test('temperature, top-k, top-p in that order; draws follow the probabilities', () => {
    const generator = new Generator(3);
    const counts = new Array<number>(4).fill(0);
    const logits = [Math.log(0.1), Math.log(0.2), Math.log(0.3), Math.log(0.4)];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, [], { topK: 0 }, generator)]++;
    counts.forEach((c, i) => expect(Math.abs(c / 20000 - (i + 1) / 10)).toBeLessThan(0.015));
    // with topK 2 only the two best can come out; temperature 0.01 makes the best certain
    for (let i = 0; i < 200; i++) expect([2, 3]).toContain(sampleToken(logits, [], { topK: 2 }, generator));
    for (let i = 0; i < 50; i++) expect(sampleToken(logits, [], { temperature: 0.01 }, generator)).toBe(3);
    expect(draw(softmax(Float64Array.of(0, -Infinity)), generator)).toBe(0);
  });
});
