// Evaluation without gradients: the mean loss over the counted items of a
// dataset and, for a classifier, its metrics (metrics.ts); and a causal LM's
// perplexity over texts longer than its context.
//
// Strided perplexity ("Perplexity of fixed-length models" in Transformers'
// docs): windows of at most maxLength tokens start every `stride` tokens;
// each window's labels are -100 except its last trg_len tokens (those not
// scored by an earlier window), so every token is predicted once, from up to
// maxLength - 1 tokens of context. PPL = exp(sum of the scored tokens' NLL /
// their count). The docs' loop counts "valid labels - 1" per window, which is
// exact for the first window only (a later window's first scored label has a
// context token before it); here the count is the labels the loss really
// scores. Each text is its own document (<bos> first), not concatenated.

import { noGrad } from '../autograd/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { type Dataset, IGNORE_INDEX } from './data.ts';
import { type ClassificationMetrics, MetricsAccumulator } from './metrics.ts';
import { SequenceClassificationDataset, TokenClassificationDataset } from './classification-data.ts';
import { type TrainableModel, checkTaskData, batchLossSum, sequentialTaskBatches, tokenLossSum } from './task.ts';

export class EvaluationError extends Error {
  override name = 'EvaluationError';
}

export interface EvalResult {
  /** Mean loss over the counted items. */
  loss: number;
  /** Items counted: tokens (causal LM, token classification), rows or target entries (sequence classification). */
  items: number;
  /** A classifier's metrics; null for a causal LM. */
  metrics: ClassificationMetrics | null;
}

/** The metrics accumulator a dataset's labels call for, or null (causal LM rows). */
function metricsFor(data: Dataset): MetricsAccumulator | null {
  if (data instanceof SequenceClassificationDataset) return new MetricsAccumulator(data.scheme.problemType, data.scheme.names.length);
  if (data instanceof TokenClassificationDataset) return new MetricsAccumulator('single_label_classification', data.scheme.names.length);
  return null;
}

/** Mean loss and metrics of `model` over every row of `data` (call with LoRA dropout off). */
export function evaluateModel(model: TrainableModel, data: Dataset, batchSize: number): EvalResult {
  checkTaskData(model, data);
  const metrics = metricsFor(data);
  return noGrad(() => {
    let sum = 0;
    let items = 0;
    for (const batch of sequentialTaskBatches(data, batchSize)) {
      if (batch.lossTokens === 0) continue; // nothing to score (and the model's mean would be 0 / 0)
      const { sum: batchSum, logits } = batchLossSum(model, batch);
      sum += batchSum.item();
      items += batch.lossTokens;
      metrics?.add(logits.contiguousData(), batch.labels.contiguousData());
    }
    if (items === 0) throw new EvaluationError(`${data.source}: no eval row has a label to score`);
    return { loss: sum / items, items, metrics: metrics?.result() ?? null };
  });
}

export interface PerplexityOptions {
  /** Tokens per window (the model's context; at most max_position_embeddings). */
  maxLength: number;
  /** Tokens between window starts (default maxLength: no overlap). */
  stride?: number;
}

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per scored token. */
  nll: number;
  /** Tokens scored: every token of every text but its first. */
  tokens: number;
  windows: number;
}

/** Strided perplexity of `model` over token-id texts (see the top of this file). */
export function stridedPerplexity(model: Gemma2ForCausalLM, texts: readonly (readonly number[])[], options: PerplexityOptions): PerplexityResult {
  const { maxLength } = options;
  const stride = options.stride ?? maxLength;
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new EvaluationError(`perplexity: the window (max length) must be an integer >= 2, got ${maxLength}`);
  if (maxLength > model.config.maxPositionEmbeddings) throw new EvaluationError(`perplexity: windows of ${maxLength} tokens are longer than the model's max_position_embeddings ${model.config.maxPositionEmbeddings}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > maxLength) throw new EvaluationError(`perplexity: the stride must be an integer in [1, ${maxLength}] (the window), got ${stride}`);
  return noGrad(() => {
    let nll = 0;
    let tokens = 0;
    let windows = 0;
    for (const ids of texts) {
      let previousEnd = 0;
      for (let begin = 0; begin < ids.length; begin += stride) {
        const end = Math.min(begin + maxLength, ids.length);
        const scored = end - previousEnd; // tokens no earlier window scored
        const window = Int32Array.from(ids.slice(begin, end));
        const labels = Int32Array.from(window, (id, t) => (t < window.length - scored ? IGNORE_INDEX : id));
        const counted = labels.subarray(1).filter((l) => l !== IGNORE_INDEX).length;
        if (counted > 0) {
          const { logits } = model.forward({ inputIds: Tensor.fromData(window, [1, window.length]) });
          nll += tokenLossSum(logits, Tensor.fromData(labels, [1, window.length])).item();
          tokens += counted;
          windows++;
        }
        previousEnd = end;
        if (end === ids.length) break;
      }
    }
    if (tokens === 0) throw new EvaluationError('perplexity: no text has two tokens, so no token is predicted');
    return { perplexity: Math.exp(nll / tokens), nll: nll / tokens, tokens, windows };
  });
}
