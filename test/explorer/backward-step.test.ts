import { describe, expect, test } from 'vitest';
import { backwardPass, nextTokenLossValue, trainingStep } from '../../lib/explorer/views/backward-step.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { goldenPath } from '../golden-files.ts';
import { loadTinyModel, PROMPT } from './tiny-model.ts';

const model = loadTinyModel();
const TARGET = 42;

describe('backward pass', () => {
  test('the loss, and a finite gradient norm for every weight and every hook point', () => {
    const result = backwardPass(model, PROMPT, TARGET);
    expect(result.loss).toBeCloseTo(nextTokenLossValue(model, PROMPT, TARGET), 5);
    expect(result.weights.map((w) => w.name)).toEqual(model.namedParameters().map(([name]) => name));
    expect(result.activations.map((a) => a.name)).toEqual(model.hookPointNames());
    for (const { name, norm } of [...result.weights, ...result.activations]) {
      expect(Number.isFinite(norm), name).toBe(true);
    }
    // the loss reads the last position's logits, which every layer reaches
    expect(result.activations.find((a) => a.name === 'layers.0.resid_pre')!.norm).toBeGreaterThan(0);
    expect(result.weights.find((w) => w.name === 'model.layers.0.mlp.down_proj.weight')!.norm).toBeGreaterThan(0);
    // the weights are left as they were: no gradient, not trainable
    expect(model.namedParameters().every(([, p]) => !p.requiresGrad && p.grad === null)).toBe(true);
  });

  test('a target outside the vocabulary is an error naming it', () => {
    expect(() => backwardPass(model, PROMPT, 256)).toThrow(/target token 256 is not a token id \(0 to 255\)/);
  });

  test('bfloat16 weights are refused with the way out', () => {
    const bf16 = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'), { weightDtype: 'bfloat16' });
    expect(() => backwardPass(bf16, PROMPT, TARGET)).toThrow(/is bfloat16; gradients need float32 weights/);
  });
});

describe('one AdamW step', () => {
  test('lowers the loss, and the weights are restored after it', () => {
    const before = model.namedParameters().map(([, p]) => Float32Array.from(p.floatData()));
    const result = trainingStep(model, PROMPT, TARGET, { lr: 1e-2 });
    expect(result.lossAfter).toBeLessThan(result.lossBefore);
    expect(result.updates.some((u) => u.norm > 0)).toBe(true);
    model.namedParameters().forEach(([name, p], i) => expect(Array.from(p.floatData()), name).toEqual(Array.from(before[i])));
    expect(nextTokenLossValue(model, PROMPT, TARGET)).toBeCloseTo(result.lossBefore, 5);
  });

  test('keepWeights leaves the stepped weights in the model', () => {
    const copy = loadTinyModel();
    const result = trainingStep(copy, PROMPT, TARGET, { lr: 1e-2 }, true);
    expect(nextTokenLossValue(copy, PROMPT, TARGET)).toBeCloseTo(result.lossAfter, 6);
  });
});
