// The next-token distribution under the sampling controls, in the order
// Transformers' generate() applies them (lib/generation/sampling.ts, GEMMA2.md
// "Sampling, as Transformers orders it"): temperature -> top-k -> top-p ->
// softmax. sampling.ts's own functions do each step, so the bars the page
// draws are the probabilities sampleToken draws from.

import { applyTopK, applyTopP, checkSamplingOptions, softmax, type SamplingOptions } from '../../generation/sampling.ts';

export interface DistributionControls {
  temperature: number;
  /** 0 disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
}

/** The probability of every token after the controls (0 where top-k or top-p removed it). */
export function nextTokenDistribution(logits: ArrayLike<number>, controls: DistributionControls): Float64Array {
  const options: SamplingOptions = { temperature: controls.temperature, topK: controls.topK, topP: controls.topP };
  checkSamplingOptions(options);
  const scores = Float64Array.from(logits);
  if (controls.temperature !== 1) for (let i = 0; i < scores.length; i++) scores[i] /= controls.temperature;
  applyTopK(scores, controls.topK);
  applyTopP(scores, controls.topP);
  return softmax(scores);
}

/** The `count` most probable tokens of a distribution, most probable first (ties: the lower id first). */
export function mostProbable(probabilities: Float64Array, count: number): { id: number; probability: number }[] {
  return Array.from(probabilities.keys())
    .sort((a, b) => probabilities[b] - probabilities[a] || a - b)
    .slice(0, count)
    .map((id) => ({ id, probability: probabilities[id] }));
}
