// Gemma2Model: the decoder stack (GEMMA2.md, "Forward pass", steps 1-3).
//   h = embed[x] * sqrt(H)           (the multiplier rounded to float32 first)
//   h = layer_i(h)                   for each layer, sliding or global
//   h = RMSNorm_final(h)
// With outputHiddenStates, hiddenStates[0] is the scaled embedding,
// hiddenStates[i] the output of layer i-1, and hiddenStates[L] the output
// after the final norm (Transformers' convention).

import type { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { Generator } from '../tensor/random.ts';
import { embedding, expectInt, expectRank, mul } from '../ops/index.ts';
import { type Gemma2Config, isSlidingLayer } from './config.ts';
import { Gemma2DecoderLayer } from './decoder-layer.ts';
import { RMSNorm } from './norm.ts';
import { rotaryTables } from './rotary.ts';
import { additiveMask } from './masks.ts';
import { type InitOptions, initWeight } from './module.ts';
import type { ModelCache } from './cache.ts';
import { type ModelPart, PreTrainedModel } from './pretrained-model.ts';

export interface ModelInput {
  /** int32 [B, T] */
  inputIds: Tensor;
  /**
   * 1 = token, 0 = padding: padded keys are never attended to. [B, T], or
   * with a cache [B, cached + T] (every position so far).
   */
  attentionMask?: Tensor;
  /** int32 [B, T] positions for RoPE; by default the cache positions (0..T-1 without a cache; padding does not shift them). */
  positionIds?: Tensor;
  /** Keys and values of earlier calls; this call's are added to it (generation's HybridCache, or any ModelCache). */
  cache?: ModelCache;
  outputHiddenStates?: boolean;
}

export interface ModelOutput {
  /** [B, T, H] after the final norm. */
  lastHiddenState: Tensor;
  hiddenStates?: Tensor[];
}

export interface ModelOptions {
  /** Fill weights as Transformers initialises them, from this seed; without one, zeros (to be loaded). */
  seed?: number;
}

export function initOptions(config: Gemma2Config, options: ModelOptions): InitOptions {
  return { generator: options.seed === undefined ? null : new Generator(options.seed), std: config.initializerRange };
}

/** The rows of a [B, T] tensor as arrays (masks, position ids). */
function rowsOf(t: Tensor): Int32Array[] | Float32Array[] {
  const [B, T] = t.shape;
  const data = t.contiguousData();
  return Array.from({ length: B }, (_, b) => data.subarray(b * T, (b + 1) * T)) as Int32Array[] | Float32Array[];
}

export class Gemma2Model extends PreTrainedModel {
  static readonly architecture = 'Gemma2Model';
  readonly embedTokens: Tensor;
  readonly layers: Gemma2DecoderLayer[];
  readonly norm: RMSNorm;

  /** `init`: how weights are filled; zeros by default (to be loaded). The heads pass theirs, so one generator fills the model and the head in Transformers' order. */
  constructor(
    readonly config: Gemma2Config,
    init: InitOptions = initOptions(config, {}),
  ) {
    super();
    this.embedTokens = initWeight([config.vocabSize, config.hiddenSize], init);
    if (init.generator !== null && config.padTokenId !== null) {
      // nn.Embedding(padding_idx) starts the pad row at zero
      this.embedTokens.contiguousData().fill(0, config.padTokenId * config.hiddenSize, (config.padTokenId + 1) * config.hiddenSize);
    }
    this.layers = Array.from({ length: config.numHiddenLayers }, (_, i) => new Gemma2DecoderLayer(config, isSlidingLayer(config, i), init));
    this.norm = new RMSNorm(config.hiddenSize, config.rmsNormEps);
  }

  /** embed[x] * sqrt(H): [B, T, H]. The pad row gets no gradient from lookups. */
  embed(inputIds: Tensor): Tensor {
    const normalizer = Math.fround(Math.sqrt(this.config.hiddenSize)); // rounded to the compute dtype first, as Transformers does (huggingface/transformers#29402)
    return mul(embedding(inputIds, this.embedTokens, this.config.padTokenId ?? undefined), normalizer);
  }

  forward(input: ModelInput): ModelOutput {
    const { inputIds, attentionMask, positionIds, cache } = input;
    expectInt('Gemma2Model', 'inputIds', inputIds);
    expectRank('Gemma2Model', 'inputIds', inputIds, 2);
    const [B, T] = inputIds.shape;
    const start = cache === undefined ? 0 : cache.begin(B, T); // cache position of this call's first token
    if (attentionMask !== undefined && !sameShape(attentionMask.shape, [B, start + T])) {
      throw new ShapeError(`Gemma2Model: attentionMask ${formatShape(attentionMask.shape)} must be [${B}, ${start + T}] (every position so far) for inputIds ${formatShape(inputIds.shape)}`);
    }
    if (positionIds !== undefined && !sameShape(positionIds.shape, [B, T])) {
      throw new ShapeError(`Gemma2Model: positionIds ${formatShape(positionIds.shape)} must match inputIds ${formatShape(inputIds.shape)}`);
    }
    const queryPositions = Int32Array.from({ length: T }, (_, t) => start + t);
    const { cos, sin } = rotaryTables(positionIds === undefined ? [queryPositions] : rowsOf(positionIds), this.config.headDim, this.config.ropeTheta);
    const maskRows = attentionMask === undefined ? undefined : rowsOf(attentionMask);
    const masks = [false, true].map((sliding) => {
      const keyPositions = cache === undefined ? queryPositions : cache.keyPositions(sliding, T);
      // the padding flag of each key, looked up by the position it holds
      const keyPadding = maskRows?.map((row) => Int32Array.from(keyPositions, (p) => (p < 0 ? 0 : row[p])));
      return additiveMask({ queryPositions, keyPositions, keyPadding, slidingWindow: sliding ? this.config.slidingWindow : undefined });
    });

    let h = this.embed(inputIds); // [B, T, H]
    const hiddenStates: Tensor[] = [];
    this.layers.forEach((layer, i) => {
      if (input.outputHiddenStates) hiddenStates.push(h);
      h = layer.forward(h, cos, sin, masks[layer.isSliding ? 1 : 0], cache?.layer(i));
    });
    cache?.advance(T);
    h = this.norm.forward(h);
    if (input.outputHiddenStates) hiddenStates.push(h);
    return { lastHiddenState: h, hiddenStates: input.outputHiddenStates ? hiddenStates : undefined };
  }

  protected parts(): ModelPart[] {
    return [['embed_tokens.weight', this.embedTokens], ...this.layers.map((layer, i): ModelPart => [`layers.${i}`, layer]), ['norm', this.norm]];
  }

  /** A model with Transformers' initialisation from `options.seed` (zeros without one). */
  static create(config: Gemma2Config, options: ModelOptions = {}): Gemma2Model {
    return new Gemma2Model(config, initOptions(config, options));
  }
}
