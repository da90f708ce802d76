// Generation with a HybridCache: one forward over the prompt (prefill), then
// one token per step. Batches may be left-padded: positions for RoPE come
// from the attention mask as in Transformers' generate()
// (huggingface/transformers#7552),
//   position_ids = cumsum(mask) - 1, with padded slots set to 1,
// and the mask grows by one per new token. A row that produced an end token
// is finished; its later tokens are the pad id, and generation stops when
// every row is finished or maxNewTokens is reached.
//
// Two limits, checked before anything is allocated or computed:
//   - the key/value cache for prompt + maxNewTokens positions must fit in
//     maxCacheBytes (default 8 GiB), else a GenerationError says how many new
//     tokens fit (not a raw "Invalid typed array length" or an exhausted heap);
//   - positions past max_position_embeddings were never trained: generation
//     runs (RoPE has no hard end, and Transformers runs too) but warns once,
//     through onWarning (default console.warn), when the first one is reached.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { Generator } from '../tensor/random.ts';
import { noGrad } from '../autograd/tape.ts';
import { expectInt, expectRank } from '../ops/index.ts';
import type { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { HybridCache, hybridCacheBytes } from './hybrid-cache.ts';
import type { Gemma2Config } from '../model/config.ts';
import { type SamplingOptions, checkRepetitionPenalty, checkSamplingOptions, greedyToken, sampleToken } from './sampling.ts';

/** The default bound on the key/value cache generate() allocates. */
export const DEFAULT_MAX_CACHE_BYTES = 8 * 2 ** 30;

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
  /** Refuse (GenerationError) a cache larger than this many bytes; default DEFAULT_MAX_CACHE_BYTES (8 GiB). */
  maxCacheBytes?: number;
  /** Receives the warning when a position reaches max_position_embeddings (once per call); default console.warn. */
  onWarning?: (message: string) => void;
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

/**
 * NaN or infinite logits leave no token to choose: an argmax would quietly
 * give token 0 at every step (and Transformers' sampling refuses such
 * probabilities). They come from weights that are not finite, as a diverged
 * training run leaves them.
 */
function refuseNonFiniteLogits(row: Float32Array, b: number, step: number): void {
  for (let token = 0; token < row.length; token++) {
    if (!Number.isFinite(row[token])) {
      throw new GenerationError(
        `generate: at new token ${step}, row ${b}'s logits are not finite (${row[token]} for token ${token}); the model's weights may hold NaN or Inf (a diverged training run?), so no token can be chosen`,
      );
    }
  }
}

/**
 * The longest cache (prompt + new tokens, in positions) for `batch` rows that
 * fits in `maxCacheBytes`; every layer's key and value arrays must also stay
 * within one typed array's length (2^32 elements in V8).
 */
export function longestCacheThatFits(config: Gemma2Config, batch: number, maxCacheBytes: number): number {
  const fits = (length: number) => {
    const { bytes, largestArray } = hybridCacheBytes(config, batch, length);
    return bytes <= maxCacheBytes && largestArray <= 2 ** 32;
  };
  if (!fits(1)) return 0;
  let low = 1; // fits
  let high = 2;
  while (fits(high) && high < Number.MAX_SAFE_INTEGER / 2) high *= 2;
  if (fits(high)) return high;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (fits(middle)) low = middle;
    else high = middle;
  }
  return low;
}

const gibibytes = (bytes: number) => `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 3 : 1)} GiB`;

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
  else checkRepetitionPenalty(options);
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
  const maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
  const longest = longestCacheThatFits(model.config, B, maxCacheBytes);
  if (maxCacheLen > longest) {
    const needed = hybridCacheBytes(model.config, B, maxCacheLen).bytes;
    throw new GenerationError(
      `generate: ${options.maxCacheLen === undefined ? `prompt (${T}) + maxNewTokens (${maxNewTokens})` : `maxCacheLen`} = ${maxCacheLen} positions need a ` +
        `${gibibytes(needed)} key/value cache for ${B} row(s), more than maxCacheBytes (${gibibytes(maxCacheBytes)}); at most ${Math.max(0, longest - T)} new tokens fit`,
    );
  }
  const maxPositions = model.config.maxPositionEmbeddings;
  const warn = options.onWarning ?? ((message: string) => console.warn(message));
  let warned = false;
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
    const lastPosition = Math.max(...positions.map((row) => row[row.length - 1]));
    if (!warned && lastPosition >= maxPositions) {
      warned = true;
      warn(
        step === 0
          ? `generate: the prompt reaches position ${lastPosition}, past max_position_embeddings (${maxPositions}); the model was not trained on such positions, so expect degraded output`
          : `generate: new token ${step} reaches position ${lastPosition}, past max_position_embeddings (${maxPositions}); the model was not trained on such positions, so expect degraded output`,
      );
    }
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
      refuseNonFiniteLogits(row, b, step);
      return options.doSample ? sampleToken(row, sequence, options, generator) : greedyToken(row, sequence, options);
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
