// The logit lens (nostalgebraist, 2020): read each layer's residual stream as
// if it were the last, through the model's own head: the final RMSNorm, the
// head h E^T (E the embedding when tied, else lm_head.weight: model.headWeight) and the final softcap c tanh(logits / c) (GEMMA2.md,
// "Forward pass" steps 3-4). The model's modules and ops do it, so at the last
// layer the lens gives the model's own logits.

import type { Tensor } from '../../tensor/tensor.ts';
import { noGrad } from '../../autograd/tape.ts';
import { linear, softcap } from '../../ops/index.ts';
import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';
import { activationAt, type ForwardRun } from './forward-run.ts';

/** The head applied to a residual stream h [1, T, H]: softcap(RMSNorm_final(h) E^T) -> [1, T, V]. */
export function lensLogits(model: Gemma2ForCausalLM, h: Tensor): Tensor {
  return noGrad(() => {
    const logits = linear(model.model.norm.forward(h), model.headWeight);
    const cap = model.config.finalLogitSoftcapping;
    return cap === null ? logits : softcap(logits, cap);
  });
}

export interface RankedToken {
  id: number;
  logit: number;
  /** softmax(logits) at this token. */
  probability: number;
}

/** The k highest-scoring tokens of one row of logits, with their softmax probabilities (ties: the lower id first). */
export function topTokens(row: ArrayLike<number>, k: number): RankedToken[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let total = 0;
  for (let i = 0; i < row.length; i++) total += Math.exp(row[i] - max);
  const order = Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b);
  return order.slice(0, k).map((id) => ({ id, logit: row[id], probability: Math.exp(row[id] - max) / total }));
}

export interface LensRow {
  /** 'embed' or `layers.<i>.resid_post`: the residual stream read. */
  point: string;
  top: RankedToken[];
}

/** The top `k` tokens read off the residual stream at `position`, after the embedding and after each layer. */
export function logitLens(model: Gemma2ForCausalLM, run: ForwardRun, position: number, k: number): LensRow[] {
  const T = run.ids.length;
  if (!Number.isInteger(position) || position < 0 || position >= T) throw new RangeError(`logitLens: position ${position} is outside the prompt's ${T} tokens`);
  const points = ['embed', ...Array.from({ length: model.config.numHiddenLayers }, (_, i) => `layers.${i}.resid_post`)];
  return points.map((point) => {
    const h = activationAt(run, point).narrow(1, position, 1); // [1, 1, H]
    return { point, top: topTokens(lensLogits(model, h).floatData(), k) };
  });
}
