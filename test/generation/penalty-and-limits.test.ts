// generate(): the repetition penalty in greedy decoding (Transformers applies
// it as a logits processor whatever do_sample is, then takes the argmax); the
// bound on the key/value cache (prompt + maxNewTokens), refused with a clear
// error before anything is allocated; and the one warning when a position
// reaches max_position_embeddings.

import { afterEach, describe, expect, test, vi } from 'vitest';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { GenerationError, generate, longestCacheThatFits } from '../../lib/generation/generate.ts';
import { hybridCacheBytes } from '../../lib/generation/hybrid-cache.ts';
import { argmax, greedyToken } from '../../lib/generation/sampling.ts';
import { randomModel } from '../model/arbitraries.ts';

const config = parseGemma2Config({
  vocab_size: 32, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
  head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 4, eos_token_id: 1, pad_token_id: 0, max_position_embeddings: 8,
});
const model = randomModel(config, 5);
const ids = (...tokens: number[]) => Tensor.fromData(Int32Array.from(tokens), [1, tokens.length]);
const prompt = ids(2, 7, 9, 4, 12);
const quiet = { onWarning: () => {} };

describe('repetition penalty in greedy decoding', () => {
  test('each token is the argmax of the step logits after the penalty over the sequence so far', () => {
    const penalty = 3;
    const run = generate(model, prompt, { maxNewTokens: 10, eosTokenId: null, repetitionPenalty: penalty, returnStepLogits: true, ...quiet });
    const tokens = run.sequences[0];
    let changed = 0;
    for (let step = 0; step < 10; step++) {
      const logits = run.stepLogits!.narrow(1, step, 1).contiguousData() as Float32Array;
      const seen = new Set(tokens.slice(0, 5 + step));
      // the penalty by hand: float32 scores, seen tokens divided (positive) or multiplied (negative)
      const scores = Float32Array.from(logits, (s, token) => (seen.has(token) ? (s < 0 ? s * penalty : s / penalty) : s));
      expect(tokens[5 + step], `step ${step}`).toBe(argmax(scores));
      if (argmax(logits) !== argmax(scores)) changed++;
    }
    // the penalty decided at least one step here: without it the test would see other tokens
    expect(changed).toBeGreaterThan(0);
  });

  test('greedyToken: penalty 1 is the plain argmax; a penalty can only lower seen tokens', () => {
    expect(greedyToken([1, 5, 3], [1], {})).toBe(1);
    expect(greedyToken([1, 5, 3], [1], { repetitionPenalty: 2 })).toBe(2); // 5 / 2 < 3
    expect(greedyToken([-1, -5, -3], [0], { repetitionPenalty: 4 })).toBe(2); // -1 * 4 < -3
  });

  test('a bad penalty is refused in greedy mode too', () => {
    expect(() => generate(model, prompt, { maxNewTokens: 1, repetitionPenalty: 0 })).toThrow(/repetitionPenalty must be a positive number, got 0/);
  });
});

describe('the key/value cache bound', () => {
  test('longestCacheThatFits is the last length whose cache fits the byte budget', () => {
    for (const budget of [4096, 10_000, 123_457, 2 ** 20]) {
      const longest = longestCacheThatFits(config, 2, budget);
      expect(hybridCacheBytes(config, 2, longest).bytes).toBeLessThanOrEqual(budget);
      expect(hybridCacheBytes(config, 2, longest + 1).bytes).toBeGreaterThan(budget);
    }
    expect(longestCacheThatFits(config, 1, 10)).toBe(0);
  });

  test('maxNewTokens past the budget is a GenerationError saying how many fit, before any allocation', () => {
    const maxCacheBytes = 2048;
    const longest = longestCacheThatFits(config, 1, maxCacheBytes);
    expect(longest).toBeGreaterThan(5);
    // exactly at the bound it runs; one more token is refused
    expect(generate(model, prompt, { maxNewTokens: longest - 5, maxCacheBytes, eosTokenId: null, ...quiet }).newTokens[0]).toHaveLength(longest - 5);
    expect(() => generate(model, prompt, { maxNewTokens: longest - 4, maxCacheBytes, ...quiet })).toThrow(
      new RegExp(`prompt \\(5\\) \\+ maxNewTokens \\(${longest - 4}\\) = ${longest + 1} positions need a .* key/value cache for 1 row\\(s\\), more than maxCacheBytes .*; at most ${longest - 5} new tokens fit`),
    );
  });

  test('the default bound turns a billion new tokens into an error, not an allocation failure', () => {
    expect(() => generate(model, prompt, { maxNewTokens: 1_000_000_000 })).toThrow(GenerationError);
    expect(() => generate(model, prompt, { maxNewTokens: 1_000_000_000 })).toThrow(/maxNewTokens \(1000000000\).*more than maxCacheBytes \(8\.0 GiB\)/);
  });
});

describe('past max_position_embeddings', () => {
  afterEach(() => vi.restoreAllMocks());

  test('a prompt longer than max_position_embeddings warns once, then generates', () => {
    const warnings: string[] = [];
    const run = generate(model, ids(2, 7, 9, 4, 12, 3, 5, 6, 8, 10), { maxNewTokens: 4, eosTokenId: null, onWarning: (m) => warnings.push(m) });
    expect(run.newTokens[0]).toHaveLength(4);
    expect(warnings).toEqual(['generate: the prompt reaches position 9, past max_position_embeddings (8); the model was not trained on such positions, so expect degraded output']);
  });

  test('generation that grows past it warns once, at the first such token; within it there is no warning', () => {
    const warnings: string[] = [];
    generate(model, prompt, { maxNewTokens: 3, eosTokenId: null, onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]); // positions 0..7
    generate(model, prompt, { maxNewTokens: 6, eosTokenId: null, onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual(['generate: new token 4 reaches position 8, past max_position_embeddings (8); the model was not trained on such positions, so expect degraded output']);
  });

  test('without onWarning the warning goes to console.warn', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    generate(model, ids(2, 7, 9, 4, 12, 3, 5, 6, 8), { maxNewTokens: 3, eosTokenId: null });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/past max_position_embeddings \(8\)/);
  });
});

describe('logits that are not finite', () => {
  test('a model with a NaN weight is refused at the first step, naming the step, the row and the token, not decoded as token 0', () => {
    const broken = randomModel(config, 5);
    const [, weight] = broken.namedParameters().find(([name]) => name === 'model.norm.weight')!;
    (weight.contiguousData() as Float32Array)[3] = Number.NaN;
    weight.markModifiedInPlace();
    expect(() => generate(broken, prompt, { maxNewTokens: 4, eosTokenId: null, ...quiet })).toThrow(/at new token 0, row 0's logits are not finite \(NaN for token \d+\); the model's weights may hold NaN/);
    expect(() => generate(broken, prompt, { maxNewTokens: 4, eosTokenId: null, doSample: true, seed: 1, ...quiet })).toThrow(GenerationError);
    // the same model with finite weights decodes
    expect(generate(model, prompt, { maxNewTokens: 4, eosTokenId: null, ...quiet }).newTokens[0]).toHaveLength(4);
  });
});
