// Choosing the next token from one row of logits, in the order Transformers'
// generate() applies its processors (GEMMA2.md, "Sampling"):
//   repetition penalty -> temperature -> top-k -> top-p -> softmax -> draw
// (temperature before the top-k/top-p filters: huggingface/transformers#8686)
// Greedy decoding is the argmax of the processed scores: the repetition
// penalty is a logits processor, not a sampling warper, so it applies there
// too (Transformers 4.47 generation/utils.py: _get_logits_processor appends
// RepetitionPenaltyLogitsProcessor whatever do_sample is, the warpers only
// when sampling, and _sample takes argmax(logits_processor(...))). These run on the host over one
// vocabulary-sized row per sequence and step: a handful of passes over V
// numbers, next to a model forward that costs millions of operations.

import type { Generator } from '../tensor/random.ts';

export interface SamplingOptions {
  /** Divide logits by this (> 0). Default 1. */
  temperature?: number;
  /** Keep the k largest logits (ties with the k-th kept). Default 50, as Transformers; 0 disables. */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p. Default 1 (disabled). */
  topP?: number;
  /** > 1 discourages tokens already in the sequence (CTRL's penalty). Default 1 (none). */
  repetitionPenalty?: number;
}

export class SamplingError extends Error {
  override name = 'SamplingError';
}

/** The options greedy decoding reads: only the repetition penalty. */
export function checkRepetitionPenalty(options: SamplingOptions): void {
  const { repetitionPenalty = 1 } = options;
  if (!(repetitionPenalty > 0) || !Number.isFinite(repetitionPenalty)) throw new SamplingError(`repetitionPenalty must be a positive number, got ${repetitionPenalty}`);
}

export function checkSamplingOptions(options: SamplingOptions): void {
  const { temperature = 1, topK = 50, topP = 1 } = options;
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new SamplingError(`temperature must be a positive number, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new SamplingError(`topK must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new SamplingError(`topP must be in (0, 1], got ${topP}`);
  checkRepetitionPenalty(options);
}

/** Index of the largest value (the first one on ties), as torch.argmax. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** score / penalty if positive, score * penalty if negative, for every token already in `sequence`, so a penalty > 1 never raises a score (huggingface/transformers#2302, fixed by #2303). */
export function applyRepetitionPenalty(scores: Float64Array | Float32Array, sequence: ArrayLike<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const token of new Set(Array.from(sequence))) {
    const s = scores[token];
    scores[token] = s < 0 ? s * penalty : s / penalty;
  }
}

/** Sets every score below the k-th largest to -inf (TopKLogitsWarper). */
export function applyTopK(scores: Float64Array, k: number): void {
  if (k <= 0 || k >= scores.length) return;
  const kth = Float64Array.from(scores).sort()[scores.length - k];
  for (let i = 0; i < scores.length; i++) if (scores[i] < kth) scores[i] = -Infinity;
}

/**
 * Nucleus filtering (TopPLogitsWarper): sort ascending, drop the tokens whose
 * cumulative probability stays at or below 1 - p, always keeping the top one
 * (huggingface/transformers#18984).
 */
export function applyTopP(scores: Float64Array, p: number): void {
  if (p >= 1) return;
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  const probabilities = softmax(Float64Array.from(order, (i) => scores[i]));
  let cumulative = 0;
  for (let rank = 0; rank < order.length - 1; rank++) {
    cumulative += probabilities[rank];
    if (cumulative <= 1 - p) scores[order[rank]] = -Infinity;
  }
}

export function softmax(scores: Float64Array): Float64Array {
  let max = -Infinity;
  for (const s of scores) max = Math.max(max, s);
  const out = scores.map((s) => Math.exp(s - max));
  const total = out.reduce((a, b) => a + b, 0);
  return out.map((v) => v / total);
}

/** Draws an index with the given probabilities. */
export function draw(probabilities: Float64Array, generator: Generator): number {
  const u = generator.nextFloat();
  let cumulative = 0;
  for (let i = 0; i < probabilities.length; i++) {
    cumulative += probabilities[i];
    if (u < cumulative) return i;
  }
  // rounding left u just above the total: the last token with any probability
  for (let i = probabilities.length - 1; i >= 0; i--) if (probabilities[i] > 0) return i;
  return probabilities.length - 1;
}

/** One sampled token from `logits`, given the sequence so far (for the repetition penalty). */
export function sampleToken(logits: ArrayLike<number>, sequence: ArrayLike<number>, options: SamplingOptions, generator: Generator): number {
  const scores = Float64Array.from(logits);
  applyRepetitionPenalty(scores, sequence, options.repetitionPenalty ?? 1);
  const temperature = options.temperature ?? 1;
  if (temperature !== 1) for (let i = 0; i < scores.length; i++) scores[i] /= temperature;
  applyTopK(scores, options.topK ?? 50);
  applyTopP(scores, options.topP ?? 1);
  return draw(softmax(scores), generator);
}

/**
 * The greedy choice from `logits`: argmax after the repetition penalty. The
 * penalised scores stay float32, as Transformers' processor computes them on
 * float32 logits, so a near tie breaks the same way.
 */
export function greedyToken(logits: ArrayLike<number>, sequence: ArrayLike<number>, options: SamplingOptions): number {
  const penalty = options.repetitionPenalty ?? 1;
  if (penalty === 1) return argmax(logits);
  const scores = Float32Array.from(logits);
  applyRepetitionPenalty(scores, sequence, penalty);
  return argmax(scores);
}
