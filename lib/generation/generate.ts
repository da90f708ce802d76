// Generation with a HybridCache: one forward over the prompt (prefill), then
// one token per step. Batches may be left-padded: positions for RoPE come
// from the attention mask as in Transformers' generate()
// (huggingface/transformers#7552),
//   position_ids = cumsum(mask) - 1, with padded slots set to 1,
// and the mask grows by one per new token. A row that produced an end token
// is finished; its later tokens are the pad id, and generation stops when
// every row is finished or maxNewTokens is reached.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { Generator } from '../tensor/random.ts';
import { noGrad } from '../autograd/tape.ts';
import { expectInt, expectRank } from '../ops/index.ts';
import type { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { HybridCache } from './hybrid-cache.ts';
import { type SamplingOptions, argmax, checkSamplingOptions, sampleToken } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** [B, T], 1 = token, 0 = padding (left padding for batches of different lengths). */
  attentionMask?: Tensor;
  /** Sample instead of picking the most likely token (greedy, the default). */
  doSample?: boolean;
  /** Seed of the sampling generator: the same seed gives the same tokens. */
  seed?: number;
  /** Stop tokens; default the config's eos_token_id. null: never stop early. */
  eosTokenId?: number | number[] | null;
  /** Cache size; default prompt length + maxNewTokens. */
  maxCacheLen?: number;
  /** Called after every step with the new token of each row. */
  onToken?: (tokens: number[], step: number) => void;
  /** Keep the logits every new token was chosen from ([B, V] per step). */
  returnStepLogits?: boolean;
}

export interface GenerateResult {
  /** Prompt and new tokens, per row. */
  sequences: number[][];
  /** Only the new tokens, per row (pad ids after a row finished). */
  newTokens: number[][];
  /** With returnStepLogits: [B, steps, V]. */
  stepLogits?: Tensor;
  /** Seconds spent in the prompt forward and in the decoding steps. */
  prefillSeconds: number;
  decodeSeconds: number;
}

export class GenerationError extends Error {
  override name = 'GenerationError';
}

/** Transformers' position ids for a padded batch: cumsum(mask) - 1, padded slots 1. */
export function positionsFromMask(mask: ArrayLike<number>[]): Int32Array[] {
  return mask.map((row) => {
    let seen = 0;
    return Int32Array.from(row, (m) => (m === 0 ? 1 : seen++));
  });
}

export function generate(model: Gemma2ForCausalLM, inputIds: Tensor, options: GenerateOptions): GenerateResult {
  expectInt('generate', 'inputIds', inputIds);
  expectRank('generate', 'inputIds', inputIds, 2);
  const [B, T] = inputIds.shape;
  const { maxNewTokens } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new GenerationError(`generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  if (T === 0) throw new GenerationError('generate: the prompt is empty');
  if (options.doSample) checkSamplingOptions(options);
  const vocab = model.config.vocabSize;
  const ids = inputIds.contiguousData();
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) throw new GenerationError(`generate: token id ${ids[i]} (row ${Math.floor(i / T)}, position ${i % T}) is outside the vocabulary [0, ${vocab})`);
  }
  if (options.attentionMask !== undefined && !sameShape(options.attentionMask.shape, [B, T])) {
    throw new ShapeError(`generate: attentionMask ${formatShape(options.attentionMask.shape)} must match inputIds ${formatShape(inputIds.shape)}`);
  }
  const eos = options.eosTokenId === undefined ? model.config.eosTokenId : options.eosTokenId;
  const stopTokens = new Set(eos === null ? [] : Array.isArray(eos) ? eos : [eos]);
  const pad = model.config.padTokenId ?? 0;
  const maxCacheLen = options.maxCacheLen ?? T + maxNewTokens;
  const cache = new HybridCache(model.config, { batch: B, maxCacheLen });
  const generator = new Generator(options.seed ?? 0);

  const sequences = Array.from({ length: B }, (_, b) => Array.from(ids.subarray(b * T, (b + 1) * T)));
  const newTokens: number[][] = Array.from({ length: B }, () => []);
  const mask = options.attentionMask === undefined ? sequences.map((row) => row.map(() => 1)) : Array.from({ length: B }, (_, b) => Array.from(options.attentionMask!.contiguousData().subarray(b * T, (b + 1) * T)));
  const padded = options.attentionMask !== undefined;
  let positions = positionsFromMask(mask);
  const finished = new Array<boolean>(B).fill(false);
  const stepLogits: Float32Array[] = [];
  let prefillSeconds = 0;
  let decodeSeconds = 0;

  let input = inputIds;
  for (let step = 0; step < maxNewTokens; step++) {
    const started = performance.now();
    const length = input.shape[1];
    const logits = noGrad(
      () =>
        model.forward({
          inputIds: input,
          attentionMask: padded ? Tensor.fromData(Int32Array.from(mask.flat()), [B, mask[0].length]) : undefined,
          positionIds: Tensor.fromData(Int32Array.from(positions.flatMap((row) => Array.from(row.subarray(row.length - length)))), [B, length]),
          cache,
          numLogitsToKeep: 1,
        }).logits,
    ).contiguousData() as Float32Array; // [B, 1, V]
    if (options.returnStepLogits) stepLogits.push(Float32Array.from(logits));
    const next = sequences.map((sequence, b) => {
      if (finished[b]) return pad;
      const row = logits.subarray(b * vocab, (b + 1) * vocab);
      return options.doSample ? sampleToken(row, sequence, options, generator) : argmax(row);
    });
    next.forEach((token, b) => {
      sequences[b].push(token);
      newTokens[b].push(token);
      mask[b].push(1);
      if (stopTokens.has(token)) finished[b] = true;
    });
    positions = positions.map((row) => Int32Array.from([...row, row[row.length - 1] + 1]));
    input = Tensor.fromData(Int32Array.from(next), [B, 1]);
    const seconds = (performance.now() - started) / 1000;
    if (step === 0) prefillSeconds = seconds;
    else decodeSeconds += seconds;
    options.onToken?.(next, step);
    if (finished.every(Boolean)) break;
  }

  const result: GenerateResult = { sequences, newTokens, prefillSeconds, decodeSeconds };
  if (options.returnStepLogits) {
    const steps = stepLogits.length;
    const data = new Float32Array(B * steps * vocab);
    stepLogits.forEach((logits, s) => {
      for (let b = 0; b < B; b++) data.set(logits.subarray(b * vocab, (b + 1) * vocab), (b * steps + s) * vocab);
    });
    result.stepLogits = Tensor.fromData(data, [B, steps, vocab]);
  }
  return result;
}
