// A backward pass and one training step on the prompt (GEMMA2.md, "Heads and
// loss" and "AdamW, as PyTorch computes it"): the loss of the model predicting
// a chosen target token after the prompt's last token, the gradient norm of
// every weight and of every hook point's activation (retainGrad on the
// activations runWithCache keeps: attribution), then one AdamW step and the
// loss after it. The weights are restored after the step, so the page's model
// is not silently changed.

import { Tensor } from '../../tensor/tensor.ts';
import { enableGrad, noGrad } from '../../autograd/tape.ts';
import { crossEntropy } from '../../ops/index.ts';
import { AdamW, type AdamWOptions } from '../../train/optimizer.ts';
import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';
import { idsTensor } from './forward-run.ts';

export interface GradientNorm {
  name: string;
  /** sqrt(sum g^2); 0 for a weight or activation the loss does not reach. */
  norm: number;
}

export interface BackwardResult {
  loss: number;
  /** Every parameter, by its checkpoint name, in checkpoint order. */
  weights: GradientNorm[];
  /** Every hook point, in forward order. */
  activations: GradientNorm[];
}

/** The loss of logits [1, T, V] predicting `target` after the last position: cross-entropy of logits[0, T-1]. */
function nextTokenLoss(logits: Tensor, target: number): Tensor {
  const [, T, V] = logits.shape;
  return crossEntropy(logits.narrow(1, T - 1, 1).reshape([1, V]), Tensor.fromData(Int32Array.of(target), [1]));
}

function checkTarget(model: Gemma2ForCausalLM, target: number): void {
  const V = model.config.vocabSize;
  if (!Number.isInteger(target) || target < 0 || target >= V) throw new RangeError(`backward: the target token ${target} is not a token id (0 to ${V - 1})`);
}

/** The weights, made trainable; throws a clear error for bfloat16 weights (never trained: fromPretrained with weightDtype 'float32'). */
function trainableWeights(model: Gemma2ForCausalLM): [string, Tensor][] {
  const named = model.namedParameters();
  const bf16 = named.find(([, p]) => p.dtype !== 'float32');
  if (bf16 !== undefined) {
    throw new Error(`backward: the weight ${bf16[0]} is ${bf16[1].dtype}; gradients need float32 weights (load the model with weightDtype 'float32')`);
  }
  return named;
}

function gradientNorm(t: Tensor): number {
  if (t.grad === null) return 0;
  let squares = 0;
  for (const g of t.grad.floatData()) squares += g * g;
  return Math.sqrt(squares);
}

/**
 * Runs `fn` with every weight requiring gradients, and leaves them as they
 * were: not requiring gradients, with no gradient kept.
 */
function withGradients<T>(weights: [string, Tensor][], fn: () => T): T {
  for (const [, p] of weights) p.requireGrad();
  try {
    return enableGrad(fn);
  } finally {
    for (const [, p] of weights) p.requireGrad(false).zeroGrad();
  }
}

/** The loss, and the gradient norm of every weight and every hook point's activation. */
export function backwardPass(model: Gemma2ForCausalLM, ids: readonly number[], target: number): BackwardResult {
  checkTarget(model, target);
  const weights = trainableWeights(model);
  return withGradients(weights, () => {
    const { output, activations } = model.runWithCache({ inputIds: idsTensor(ids) });
    for (const activation of activations.values()) activation.retainGrad();
    const loss = nextTokenLoss(output.logits, target);
    loss.backward();
    return {
      loss: loss.item(),
      weights: weights.map(([name, p]) => ({ name, norm: gradientNorm(p) })),
      activations: [...activations].map(([name, a]) => ({ name, norm: gradientNorm(a) })),
    };
  });
}

/** The loss of predicting `target` after `ids`, without gradients. */
export function nextTokenLossValue(model: Gemma2ForCausalLM, ids: readonly number[], target: number): number {
  checkTarget(model, target);
  return noGrad(() => nextTokenLoss(model.forward({ inputIds: idsTensor(ids) }).logits, target).item());
}

export interface TrainingStepResult {
  lossBefore: number;
  lossAfter: number;
  /** How far each weight moved: sqrt(sum (w_after - w_before)^2), by checkpoint name. */
  updates: GradientNorm[];
}

/**
 * One AdamW step (lib/train/optimizer.ts) on the loss of predicting `target`,
 * the loss before and after it; then every weight is put back as it was
 * (`keepWeights` true leaves the stepped weights in the model instead).
 */
export function trainingStep(model: Gemma2ForCausalLM, ids: readonly number[], target: number, options: Partial<AdamWOptions> = {}, keepWeights = false): TrainingStepResult {
  checkTarget(model, target);
  const weights = trainableWeights(model);
  const saved = weights.map(([, p]) => Float32Array.from(p.floatData()));
  const lossBefore = withGradients(weights, () => {
    const optimizer = new AdamW(weights.map(([, p]) => p), options);
    const loss = nextTokenLoss(model.forward({ inputIds: idsTensor(ids) }).logits, target);
    loss.backward();
    optimizer.step();
    return loss.item();
  });
  const lossAfter = nextTokenLossValue(model, ids, target);
  const updates = weights.map(([name, p], i) => {
    const now = p.floatData();
    let squares = 0;
    for (let j = 0; j < now.length; j++) squares += (now[j] - saved[i][j]) ** 2;
    return { name, norm: Math.sqrt(squares) };
  });
  if (!keepWeights) restoreWeights(weights, saved);
  return { lossBefore, lossAfter, updates };
}

/** Writes `saved` back into each weight (and bumps its version, as the optimizer's own writes do). */
function restoreWeights(weights: [string, Tensor][], saved: Float32Array[]): void {
  noGrad(() =>
    weights.forEach(([, p], i) => {
      (p.contiguousData() as Float32Array).set(saved[i]);
      p.markModifiedInPlace();
    }),
  );
}
