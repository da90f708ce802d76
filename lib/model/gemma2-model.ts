// Gemma2Model: the decoder stack (GEMMA2.md, "Forward pass", steps 1-3).
//   h = embed[x] * sqrt(H)           (the multiplier rounded to float32 first)
//   h = layer_i(h)                   for each layer, sliding or global
//   h = RMSNorm_final(h)
// With outputHiddenStates, hiddenStates[0] is the scaled embedding,
// hiddenStates[i] the output of layer i-1, and hiddenStates[L] the output
// after the final norm (Transformers' convention).

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { Generator } from '../tensor/random.ts';
import { embedding } from '../ops/embedding.ts';
import { mul } from '../ops/arithmetic.ts';
import { expectInt, expectRank } from '../ops/check.ts';
import { type Gemma2Config, isSlidingLayer } from './config.ts';
import { Gemma2DecoderLayer } from './decoder-layer.ts';
import { RMSNorm } from './norm.ts';
import { rotaryTables } from './rotary.ts';
import { blockedKeys } from './masks.ts';
import { type InitOptions, type Module, type NamedParameters, initWeight, withPrefix } from './module.ts';
import { type LoadOptions, type SaveOptions, loadPretrained, savePretrained } from './pretrained.ts';

export interface ModelInput {
  /** int32 [B, T] */
  inputIds: Tensor;
  /** [B, T], 1 = token, 0 = padding: padded keys are never attended to. */
  attentionMask?: Tensor;
  /** int32 [B, T] positions for RoPE; by default 0..T-1 in every row (padding does not shift them). */
  positionIds?: Tensor;
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

export class Gemma2Model implements Module {
  readonly embedTokens: Tensor;
  readonly layers: Gemma2DecoderLayer[];
  readonly norm: RMSNorm;

  constructor(
    readonly config: Gemma2Config,
    init: InitOptions,
  ) {
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
    const normalizer = Math.fround(Math.sqrt(this.config.hiddenSize)); // rounded to the compute dtype, as Transformers does
    return mul(embedding(inputIds, this.embedTokens, this.config.padTokenId ?? undefined), normalizer);
  }

  forward(input: ModelInput): ModelOutput {
    const { inputIds, attentionMask, positionIds } = input;
    expectInt('Gemma2Model', 'inputIds', inputIds);
    expectRank('Gemma2Model', 'inputIds', inputIds, 2);
    const [B, T] = inputIds.shape;
    for (const [name, t] of [['attentionMask', attentionMask], ['positionIds', positionIds]] as const) {
      if (t !== undefined && !sameShape(t.shape, [B, T])) {
        throw new ShapeError(`Gemma2Model: ${name} ${formatShape(t.shape)} must match inputIds ${formatShape(inputIds.shape)}`);
      }
    }
    const sequence = Int32Array.from({ length: T }, (_, t) => t);
    const positions = positionIds === undefined ? [sequence] : rowsOf(positionIds);
    const { cos, sin } = rotaryTables(positions, this.config.headDim, this.config.ropeTheta);
    const keyPadding = attentionMask === undefined ? undefined : rowsOf(attentionMask);
    const globalMask = blockedKeys({ queryPositions: sequence, keyPositions: sequence, keyPadding });
    const slidingMask = blockedKeys({ queryPositions: sequence, keyPositions: sequence, keyPadding, slidingWindow: this.config.slidingWindow });

    let h = this.embed(inputIds); // [B, T, H]
    const hiddenStates: Tensor[] = [];
    for (const layer of this.layers) {
      if (input.outputHiddenStates) hiddenStates.push(h);
      h = layer.forward(h, cos, sin, layer.isSliding ? slidingMask : globalMask);
    }
    h = this.norm.forward(h);
    if (input.outputHiddenStates) hiddenStates.push(h);
    return { lastHiddenState: h, hiddenStates: input.outputHiddenStates ? hiddenStates : undefined };
  }

  namedParameters(): NamedParameters {
    return [
      ['embed_tokens.weight', this.embedTokens],
      ...this.layers.flatMap((layer, i) => withPrefix(`layers.${i}`, layer)),
      ...withPrefix('norm', this.norm),
    ];
  }

  static create(config: Gemma2Config, options: ModelOptions = {}): Gemma2Model {
    return new Gemma2Model(config, initOptions(config, options));
  }

  /** Loads a Hugging Face folder; a checkpoint saved with a head (model.* names) loads too, its head unused. */
  static fromPretrained(dir: string, options?: LoadOptions): Gemma2Model {
    return loadPretrained(dir, (config) => Gemma2Model.create(config), options).model;
  }

  /** Writes a folder Transformers' Gemma2Model.from_pretrained can load. */
  savePretrained(dir: string, options?: SaveOptions): void {
    savePretrained(this, dir, 'Gemma2Model', options);
  }
}
