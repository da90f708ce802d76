// The classification losses as Transformers computes them: problem_type (or,
// when null, one label -> regression, integer labels -> single-label, float
// labels -> multi-label); mean squared error of the squeezed pooled logits,
// cross-entropy with -100 ignored, BCE with logits over every entry; token
// classification always cross-entropy. Each loss is checked against the
// formula applied in float64 to the model's own logits; the errors name the
// problem type and the shapes.

import { describe, expect, test } from 'vitest';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { Gemma2ForSequenceClassification, Gemma2ForTokenClassification, sequenceProblemType } from '../../lib/model/classification.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { tensor } from '../../lib/tensor/creation.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import type { Module } from '../../lib/model/module.ts';
import * as R from '../../reference/index.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { expectClose, toRef } from '../helpers.ts';

function config(numLabels: number, problemType: string | null = null) {
  return parseGemma2Config({
    vocab_size: 20, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1,
    head_dim: 4, query_pre_attn_scalar: 4, sliding_window: 4, pad_token_id: 0, num_labels: numLabels, problem_type: problemType,
  });
}

/** Every weight normal(0, 0.5): pooled logits of order 1, so each loss is far from its mutants. */
function randomize<M extends Module>(model: M, seed: number): M {
  const generator = new Generator(seed);
  for (const [, p] of model.namedParameters()) {
    const data = p.contiguousData();
    for (let i = 0; i < data.length; i++) data[i] = 0.5 * generator.nextNormal();
  }
  return model;
}

// three rows, the last two right-padded (pad id 0)
const inputIds = tensor([[3, 7, 11, 5, 9], [4, 4, 13, 0, 0], [8, 2, 0, 0, 0]], { dtype: 'int32' });
const floats = (values: number[][] | number[]) => tensor(values);

function sequenceLoss(numLabels: number, problemType: string | null, labels: Tensor): { logits: Tensor; loss: number } {
  const model = randomize(new Gemma2ForSequenceClassification(config(numLabels, problemType)), 7);
  const { logits, loss } = noGrad(() => model.forward({ inputIds, labels }));
  return { logits, loss: loss!.item() };
}

/** mean((a - b)^2) in float64. */
function meanSquaredError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += (a[i] - b[i]) ** 2;
  return total / a.length;
}

describe('sequence classification loss', () => {
  test('problem type: config.problem_type wins; else one label regresses, integer labels single-label, float labels multi-label', () => {
    const ids = tensor([1, 0, 2], { dtype: 'int32' });
    const targets = floats([0.5, 1, 2]);
    expect(sequenceProblemType(config(1), ids)).toBe('regression');
    expect(sequenceProblemType(config(1), targets)).toBe('regression');
    expect(sequenceProblemType(config(3), ids)).toBe('single_label_classification');
    expect(sequenceProblemType(config(3), targets)).toBe('multi_label_classification');
    expect(sequenceProblemType(config(3, 'regression'), ids)).toBe('regression');
    expect(sequenceProblemType(config(1, 'single_label_classification'), targets)).toBe('single_label_classification');
  });

  test('one label: the mean squared error of the squeezed pooled logits against [B] (or [B, 1]) targets', () => {
    const y = [0.25, -1.5, 2];
    const { logits, loss } = sequenceLoss(1, null, floats(y));
    expect(logits.shape).toEqual([3, 1]);
    const expected = meanSquaredError(logits.contiguousData(), y);
    expect(expected).toBeGreaterThan(0.1); // far from 0 and from expected / 2
    expectClose([loss], [expected], TOLERANCES.reduction, 'regression loss');
    expectClose([sequenceLoss(1, null, floats(y.map((v) => [v]))).loss], [expected], TOLERANCES.reduction, 'regression loss, [B, 1] targets');
    // integer targets are regressed as the same numbers
    const integers = [1, -2, 3];
    expectClose([sequenceLoss(1, null, tensor(integers, { dtype: 'int32' })).loss], [meanSquaredError(logits.contiguousData(), integers)], TOLERANCES.reduction, 'integer targets');
  });

  test('problem_type regression with several labels: mean squared error over every entry of [B, num_labels]', () => {
    const y = [[0, 1], [2, -1], [0.5, 0.5]];
    const { logits, loss } = sequenceLoss(2, 'regression', floats(y));
    expectClose([loss], [meanSquaredError(logits.contiguousData(), y.flat())], TOLERANCES.reduction, 'multi-target regression');
  });

  test('integer labels: cross-entropy of the pooled logits, -100 ignored', () => {
    const labels = [2, -100, 0];
    const { logits, loss } = sequenceLoss(3, null, tensor(labels, { dtype: 'int32' }));
    expectClose([loss], [R.crossEntropy(toRef(logits), labels)], TOLERANCES.fused, 'single-label loss');
  });

  test('multi-label (problem_type, or float labels with several labels): BCE with logits, mean over all B x num_labels entries', () => {
    const targets = floats([[1, 0, 1], [0, 0, 1], [1, 1, 0]]);
    for (const problemType of ['multi_label_classification', null]) {
      const { logits, loss } = sequenceLoss(3, problemType, targets);
      expectClose([loss], [R.binaryCrossEntropyWithLogits(toRef(logits), toRef(targets))], TOLERANCES.fused, `multi-label loss (problem_type ${problemType})`);
    }
  });

  test('labels that do not fit the problem type are errors naming it and the shapes', () => {
    expect(() => sequenceLoss(1, null, floats([1, 2]))).toThrow(
      /Gemma2ForSequenceClassification: regression needs targets \[3\] for pooled logits \[3, 1\]; got float32 labels \[2\]/,
    );
    expect(() => sequenceLoss(3, 'single_label_classification', floats([1, 2, 0]))).toThrow(
      /single_label_classification needs int32 class ids \[3\] for pooled logits \[3, 3\]; got float32 labels \[3\]/,
    );
    expect(() => sequenceLoss(3, 'multi_label_classification', tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0]], { dtype: 'int32' }))).toThrow(
      /multi_label_classification needs float32 0\/1 targets \[3, 3\] for pooled logits \[3, 3\]; got int32 labels \[3, 3\]/,
    );
    expect(() => sequenceLoss(3, null, floats([1, 0, 1]))).toThrow(/multi_label_classification needs float32 0\/1 targets \[3, 3\]/);
  });
});

describe('token classification loss', () => {
  const model = randomize(new Gemma2ForTokenClassification(config(4, 'regression')), 9);

  test('cross-entropy at every position, -100 ignored, whatever problem_type says', () => {
    const labels = [[1, 0, 3, 2, 1], [3, 3, 0, -100, -100], [2, 1, -100, -100, -100]];
    const { logits, loss } = noGrad(() => model.forward({ inputIds, labels: tensor(labels, { dtype: 'int32' }) }));
    expect(logits.shape).toEqual([3, 5, 4]);
    expectClose([loss!.item()], [R.crossEntropy(toRef(logits.reshape([15, 4])), labels.flat())], TOLERANCES.fused, 'token loss');
  });

  test('float or mis-shaped labels are an error naming the expected shape', () => {
    expect(() => model.forward({ inputIds, labels: tensor([[0.5, 1, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]) })).toThrow(
      /Gemma2ForTokenClassification: labels must be int32 class ids \[3, 5\] \(-100 ignored\) for logits \[3, 5, 4\]; got float32 labels \[3, 5\]/,
    );
    expect(() => model.forward({ inputIds, labels: tensor([1, 2, 3], { dtype: 'int32' }) })).toThrow(/labels must be int32 class ids \[3, 5\]/);
  });
});
