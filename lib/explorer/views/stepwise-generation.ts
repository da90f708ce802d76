// Generation one token at a time with a HybridCache (GEMMA2.md, "HybridCache"),
// exposing the cache's slots after each step: on sliding layers a ring of
// min(sliding_window, max_cache_len) slots, position p in slot p mod slots (it
// wraps once the window is full); on global layers position p in slot p (the
// slots fill left to right). The slots are read from the cache itself:
// keyPositions(sliding, 0) is the positions the next call would attend over
// from the cache, i.e. every slot's position (-1 empty).

import { noGrad } from '../../autograd/tape.ts';
import { Generator } from '../../tensor/random.ts';
import { HybridCache } from '../../generation/hybrid-cache.ts';
import { greedyToken, sampleToken, type SamplingOptions } from '../../generation/sampling.ts';
import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';
import { isSlidingLayer } from '../../model/config.ts';
import { idsTensor } from './forward-run.ts';

export interface CacheSlots {
  /** Slots of each sliding layer's ring: the position each holds, -1 when empty. */
  sliding: Int32Array;
  /** Slots of each global layer: the position each holds, -1 when empty. */
  global: Int32Array;
  /** Where the next position goes in the ring (p mod slots). */
  nextRingSlot: number;
}

export class StepwiseGeneration {
  readonly cache: HybridCache;
  /** The prompt and every token generated so far. */
  readonly sequence: number[];
  readonly promptLength: number;
  private readonly generator: Generator;
  private lastLogits: Float32Array | null = null;

  /** `sampling` null: greedy; else sampled with these options from `seed`. */
  constructor(
    private readonly model: Gemma2ForCausalLM,
    prompt: readonly number[],
    readonly maxNewTokens: number,
    private readonly sampling: SamplingOptions | null = null,
    seed = 0,
  ) {
    if (prompt.length === 0) throw new Error('StepwiseGeneration: the prompt has no tokens');
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new RangeError(`StepwiseGeneration: maxNewTokens must be a positive integer, got ${maxNewTokens}`);
    this.sequence = [...prompt];
    this.promptLength = prompt.length;
    this.cache = new HybridCache(model.config, { batch: 1, maxCacheLen: prompt.length + maxNewTokens - 1 }); // the last token chosen is never written
    this.generator = new Generator(seed);
  }

  /** Tokens generated so far. */
  get generated(): number {
    return this.sequence.length - this.promptLength;
  }

  /** Whether the last token generated is an end token (config.eos_token_id): generation stops there, as generate() does. */
  get finished(): boolean {
    const eos = this.model.config.eosTokenId;
    const ends = eos === null ? [] : Array.isArray(eos) ? eos : [eos];
    return this.generated > 0 && ends.includes(this.sequence[this.sequence.length - 1]);
  }

  /** Whether another token may be generated: the cache has room and no end token came yet. */
  get canStep(): boolean {
    return this.cache.length < this.cache.maxCacheLen && !this.finished;
  }

  /**
   * Runs the prompt (the first call) or the last chosen token through the
   * model, writing its keys and values into the cache, and appends the next
   * token. Returns that token.
   */
  step(): number {
    if (this.finished) throw new Error(`StepwiseGeneration: token ${this.generated} was an end token (eos_token_id), where generation stops; start again`);
    if (!this.canStep) throw new Error(`StepwiseGeneration: the cache is full (${this.cache.maxCacheLen} positions); start again to generate more`);
    const input = this.cache.length === 0 ? this.sequence : this.sequence.slice(this.cache.length);
    const logits = noGrad(() => this.model.forward({ inputIds: idsTensor(input), cache: this.cache, numLogitsToKeep: 1 }).logits);
    this.lastLogits = Float32Array.from(logits.floatData());
    const token = this.sampling === null ? greedyToken(this.lastLogits, this.sequence, {}) : sampleToken(this.lastLogits, this.sequence, this.sampling, this.generator);
    this.sequence.push(token);
    return token;
  }

  /** The logits the last step chose from (null before the first). */
  get logits(): Float32Array | null {
    return this.lastLogits;
  }

  /** The cache's slots as they are now. */
  slots(): CacheSlots {
    const config = this.model.config;
    const hasSliding = config.layerTypes.some((_, i) => isSlidingLayer(config, i));
    const sliding = hasSliding ? Int32Array.from(this.cache.keyPositions(true, 0)) : new Int32Array(0);
    const global = new Int32Array(this.cache.maxCacheLen).fill(-1);
    const hasGlobal = config.layerTypes.some((_, i) => !isSlidingLayer(config, i));
    if (hasGlobal) global.set(this.cache.keyPositions(false, 0));
    return { sliding, global, nextRingSlot: sliding.length === 0 ? -1 : this.cache.length % sliding.length };
  }
}
