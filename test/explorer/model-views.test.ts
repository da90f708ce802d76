// The explorer's computations on the tiny golden model: the logit lens, the
// residual norms, and the cache slots while generating token by token.

import { describe, expect, test } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { BOS, EOS, encode } from '../../lib/tasks/addition.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { generate } from '../../lib/generation/generate.ts';
import { activationAt, idsTensor, residualNorms, runForward } from '../../lib/explorer/views/forward-run.ts';
import { lensLogits, logitLens, topTokens } from '../../lib/explorer/views/logit-lens.ts';
import { StepwiseGeneration } from '../../lib/explorer/views/stepwise-generation.ts';
import { layerAttention } from '../../lib/explorer/views/attention-maps.ts';
import { loadTinyModel, PROMPT } from './tiny-model.ts';

const model = loadTinyModel();
const L = model.config.numHiddenLayers;
const run = runForward(model, PROMPT);

describe('forward run', () => {
  test('keeps every hook point, and the logits equal a plain forward', () => {
    expect([...run.activations.keys()]).toEqual(model.hookPointNames());
    const plain = noGrad(() => model.forward({ inputIds: idsTensor(PROMPT) }).logits);
    expect(Array.from(run.logits.floatData())).toEqual(Array.from(plain.floatData()));
  });

  test('residual norms are the per-position norms of resid_post', () => {
    const norms = residualNorms(run, L);
    expect(norms).toHaveLength(L);
    const h = activationAt(run, `layers.${L - 1}.resid_post`).floatData();
    const H = model.config.hiddenSize;
    const t = 4;
    const expected = Math.sqrt(h.subarray(t * H, (t + 1) * H).reduce((s, v) => s + v * v, 0));
    expect(norms[L - 1][t]).toBeCloseTo(expected, 4);
  });

  test('an empty prompt is an error before the model runs', () => {
    expect(() => runForward(model, [])).toThrow(/the prompt has no tokens/);
  });

  test('asking for a point the run did not keep is an error naming it', () => {
    expect(() => activationAt(run, 'layers.9.resid_post')).toThrow(/no activation at "layers.9.resid_post"/);
  });
});

describe('logit lens', () => {
  test('at the last layer it reads the model\'s own logits, at every position', () => {
    const last = activationAt(run, `layers.${L - 1}.resid_post`);
    const lens = lensLogits(model, last).floatData();
    const own = run.logits.floatData();
    expect(lens.length).toBe(own.length);
    let worst = 0;
    for (let i = 0; i < own.length; i++) worst = Math.max(worst, Math.abs(lens[i] - own[i]));
    expect(worst).toBeLessThan(1e-5);
  });

  test('one row per residual stream, the last row\'s top tokens the model\'s top tokens', () => {
    const position = PROMPT.length - 1;
    const rows = logitLens(model, run, position, 5);
    expect(rows.map((r) => r.point)).toEqual(['embed', ...Array.from({ length: L }, (_, i) => `layers.${i}.resid_post`)]);
    const V = model.config.vocabSize;
    const own = topTokens(run.logits.floatData().subarray(position * V, (position + 1) * V), 5);
    expect(rows.at(-1)!.top.map((t) => t.id)).toEqual(own.map((t) => t.id));
    expect(() => logitLens(model, run, PROMPT.length, 5)).toThrow(/position 11 is outside the prompt's 11 tokens/);
  });

  test('topTokens ranks by logit with softmax probabilities', () => {
    const top = topTokens([1, 3, 2, 3], 3);
    expect(top.map((t) => t.id)).toEqual([1, 3, 2]);
    const total = Math.exp(1) + 2 * Math.exp(3) + Math.exp(2);
    expect(top[0].probability).toBeCloseTo(Math.exp(3) / total, 12);
  });
});

describe('generation token by token', () => {
  test('greedy steps give generate()\'s tokens, and the cache slots fill and wrap', () => {
    const newTokens = 4;
    const stepwise = new StepwiseGeneration(model, PROMPT, newTokens);
    const window = model.config.slidingWindow; // 8: the 11-token prompt already wraps the ring
    const empty = stepwise.slots();
    expect(Array.from(empty.sliding)).toEqual(new Array(window).fill(-1));
    expect(empty.global.every((p) => p === -1)).toBe(true);

    stepwise.step(); // the prompt: positions 0..10
    let slots = stepwise.slots();
    // the ring keeps the last 8 positions, position p in slot p mod 8
    expect(Array.from(slots.sliding)).toEqual([8, 9, 10, 3, 4, 5, 6, 7]);
    expect(Array.from(slots.global.subarray(0, PROMPT.length))).toEqual(PROMPT.map((_, p) => p));
    expect(slots.global[PROMPT.length]).toBe(-1);
    expect(slots.nextRingSlot).toBe(11 % window);

    while (stepwise.canStep) stepwise.step();
    expect(stepwise.generated).toBe(newTokens);
    slots = stepwise.slots();
    expect(Array.from(slots.sliding)).toEqual([8, 9, 10, 11, 12, 13, 6, 7]);
    expect(slots.global.every((p, slot) => p === slot)).toBe(true);
    expect(() => stepwise.step()).toThrow(/the cache is full/);

    const expected = generate(model, idsTensor(PROMPT), { maxNewTokens: newTokens, doSample: false });
    expect(stepwise.sequence).toEqual(expected.sequences[0]);
  });
});

describe('attention maps', () => {
  test('per head the tensors runWithCache kept; the pattern is zero exactly where the mask blocks', () => {
    const T = PROMPT.length;
    for (let layer = 0; layer < L; layer++) {
      const maps = layerAttention(model.config, run, layer);
      expect(maps.sliding).toBe(layer % 2 === 0);
      expect(maps.heads).toHaveLength(model.config.numAttentionHeads);
      const pattern = activationAt(run, `layers.${layer}.attn.pattern`).floatData();
      const head = 3;
      expect(Array.from(maps.heads[head].pattern.values)).toEqual(Array.from(pattern.subarray(head * T * T, (head + 1) * T * T)));
      for (let t = 0; t < T; t++) {
        for (let s = 0; s < T; s++) {
          const inWindow = s <= t && (maps.window === null || s > t - maps.window);
          expect(maps.allowed[t][s], `layer ${layer} query ${t} key ${s}`).toBe(inWindow);
          if (!inWindow) expect(maps.heads[head].pattern.values[t * T + s]).toBe(0);
        }
      }
      // the softcap c tanh(s / c) of the raw scores
      const c = model.config.attnLogitSoftcapping!;
      expect(maps.heads[0].capped.values[5]).toBeCloseTo(c * Math.tanh(maps.heads[0].scores.values[5] / c), 5);
    }
    expect(() => layerAttention(model.config, run, L)).toThrow(/layer 4 does not exist/);
  });
});

describe('generation token by token stops at an end token', () => {
  test('the addition model answers and ends with <eos>: the steps stop there, with generate()\'s tokens', () => {
    const dir = fileURLToPath(new URL('../../lib/explorer/assets/models/addition', import.meta.url));
    const addition = Gemma2ForCausalLM.fromPretrained(dir);
    const prompt = [BOS, ...encode('47+85=')];
    const stepwise = new StepwiseGeneration(addition, prompt, 8);
    while (stepwise.canStep) stepwise.step();
    expect(stepwise.finished).toBe(true);
    expect(stepwise.sequence.at(-1)).toBe(EOS);
    expect(stepwise.generated).toBeLessThan(8);
    expect(() => stepwise.step()).toThrow(/was an end token \(eos_token_id\), where generation stops/);
    const expected = generate(addition, idsTensor(prompt), { maxNewTokens: 8, doSample: false });
    expect(stepwise.sequence).toEqual(expected.sequences[0]);
  });
});
