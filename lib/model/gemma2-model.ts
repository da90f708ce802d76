// Gemma2Model: the decoder stack (GEMMA2.md, "Forward pass", steps 1-3).
//   h = embed[x] * sqrt(H)           (the multiplier rounded to float32 first)
//   h = layer_i(h)                   for each layer, sliding or global
//   h = RMSNorm_final(h)
// With outputHiddenStates, hiddenStates[0] is the scaled embedding,
// hiddenStates[i] the output of layer i-1, and hiddenStates[L] the output
// after the final norm (Transformers' convention).

import type { Tensor } from '../tensor/tensor.ts';
import { withArena } from '../tensor/arena.ts';
import { isGradEnabled } from '../autograd/tape.ts';
import { checkpoint } from '../autograd/checkpoint.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { Generator } from '../tensor/random.ts';
import { embedding, expectInt, expectRank, mul } from '../ops/index.ts';
import { type Gemma2Config, isSlidingLayer } from './config.ts';
import { Gemma2DecoderLayer } from './decoder-layer.ts';
import { RMSNorm } from './norm.ts';
import { rotaryTables } from './rotary.ts';
import { additiveMask, documentsFromPositionIds, holdsSeveralDocuments } from './masks.ts';
import { type InitOptions, initWeight } from './module.ts';
import type { WeightDType } from '../tensor/storage.ts';
import type { ModelCache } from './cache.ts';
import type { HookScope, Hooks } from './hooks.ts';
import { type ModelPart, PreTrainedModel } from './pretrained-model.ts';

export interface ModelInput {
  /** int32 [B, T]. Exactly one of inputIds and inputsEmbeds. */
  inputIds?: Tensor;
  /**
   * float32 [B, T, H]: rows of the embedding matrix (or anything in their
   * place) instead of ids; scaled by sqrt(H) like looked-up rows, as in
   * Transformers' inputs_embeds.
   */
  inputsEmbeds?: Tensor;
  /**
   * 1 = token, 0 = padding: padded keys are never attended to. [B, T], or
   * with a cache [B, cached + T] (every position so far).
   */
  attentionMask?: Tensor;
  /**
   * int32 [B, T] positions for RoPE; by default the cache positions (0..T-1
   * without a cache; padding does not shift them). Without a cache they also
   * mark packed documents: a position id 0 past the row's start begins a new
   * document, and no token attends across documents (masks.ts; Transformers'
   * padding-free packing, DataCollatorWithFlattening). With a cache they
   * place RoPE only.
   */
  positionIds?: Tensor;
  /** Keys and values of earlier calls; this call's are added to it (generation's HybridCache, or any ModelCache). */
  cache?: ModelCache;
  outputHiddenStates?: boolean;
  /** Also return every layer's attention probabilities (Transformers' output_attentions). */
  outputAttentions?: boolean;
  /** Hooks to run at the hook points (hooks.ts, hook-points.ts); model.runWithHooks checks their names first. */
  hooks?: Hooks | HookScope;
}

export interface ModelOutput {
  /** [B, T, H] after the final norm. */
  lastHiddenState: Tensor;
  /** L + 1 entries [B, T, H] with outputHiddenStates: the scaled embedding, each layer's output, the last after the final norm. */
  hiddenStates?: Tensor[];
  /** L entries [B, heads, T, S] with outputAttentions: softmax(s + M), S the key slots (T without a cache). */
  attentions?: Tensor[];
}

export interface ModelOptions {
  /** Fill weights as Transformers initialises them, from this seed; without one, zeros (to be loaded). */
  seed?: number;
  /**
   * The weight matrices' dtype (module.ts, InitOptions.weightDtype): float32
   * by default; bfloat16 keeps them in bf16 (fromPretrained chooses this for a
   * bf16 checkpoint, LoadOptions.weightDtype). Norms, biases and a
   * classifier's score head stay float32.
   */
  weightDtype?: WeightDType;
}

export function initOptions(config: Gemma2Config, options: ModelOptions): InitOptions {
  return { generator: options.seed === undefined ? null : new Generator(options.seed), std: config.initializerRange, weightDtype: options.weightDtype ?? 'float32' };
}

/** The layers' attention probabilities: the points output_attentions returns. */
function isAttentionPattern(name: string): boolean {
  return name.endsWith('.attn.pattern');
}

/** The rows of a [B, T] tensor as arrays (masks, position ids). */
function rowsOf(t: Tensor): Int32Array[] | Float32Array[] {
  const [B, T] = t.shape;
  const data = t.contiguousData();
  return Array.from({ length: B }, (_, b) => data.subarray(b * T, (b + 1) * T)) as Int32Array[] | Float32Array[];
}

/**
 * What gradient checkpointing cannot do: each layer runs twice (untraced, then
 * again in backward), so a hook would see activations cut off from the tape
 * and run twice, and a cache would be written twice.
 */
function refuseWithCheckpointing(hooksActive: boolean, hasCache: boolean): void {
  if (hooksActive) {
    throw new Error(
      'Gemma2Model: gradient checkpointing runs each layer twice (untraced, then again in backward), so hooks and outputAttentions would see activations cut off from the tape; ' +
        'set gradientCheckpointing = false to run hooks while recording gradients, or run them under noGrad',
    );
  }
  if (hasCache) {
    throw new Error('Gemma2Model: gradient checkpointing recomputes each layer in backward, which would write the cache twice; pass no cache while recording gradients (Transformers turns use_cache off)');
  }
}

export class Gemma2Model extends PreTrainedModel {
  static readonly architecture = 'Gemma2Model';
  readonly embedTokens: Tensor;
  readonly layers: Gemma2DecoderLayer[];
  readonly norm: RMSNorm;
  /**
   * Gradient checkpointing, as Transformers' gradient_checkpointing_enable()
   * sets it on Gemma2Model: while gradients are recorded, each decoder layer
   * keeps only its input for backward, which runs the layer again
   * (lib/autograd/checkpoint.ts). Less memory, one more forward per step.
   */
  gradientCheckpointing = false;

  /**
   * `init`: how weights are filled; zeros by default (to be loaded). The heads
   * pass their InitOptions, so one generator fills the model and the head in
   * Transformers' order; fromPretrained passes ModelOptions (the weight dtype).
   */
  constructor(
    readonly config: Gemma2Config,
    options: InitOptions | ModelOptions = {},
  ) {
    super();
    const init = 'generator' in options ? options : initOptions(config, options);
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
    return this.scaleEmbeddings(embedding(inputIds, this.embedTokens, this.config.padTokenId ?? undefined));
  }

  /** e * sqrt(H), the multiplier rounded to float32 first, as Transformers rounds it to the compute dtype (huggingface/transformers#29402). */
  private scaleEmbeddings(e: Tensor): Tensor {
    return mul(e, Math.fround(Math.sqrt(this.config.hiddenSize)));
  }

  /** The scaled embeddings of `input`'s ids or inputsEmbeds (exactly one of them, as Transformers requires). */
  private inputEmbeddings(input: ModelInput): Tensor {
    const { inputIds, inputsEmbeds } = input;
    if ((inputIds === undefined) === (inputsEmbeds === undefined)) {
      throw new Error('Gemma2Model: give exactly one of inputIds and inputsEmbeds');
    }
    if (inputIds !== undefined) {
      expectInt('Gemma2Model', 'inputIds', inputIds);
      expectRank('Gemma2Model', 'inputIds', inputIds, 2);
      return this.embed(inputIds);
    }
    const H = this.config.hiddenSize;
    if (inputsEmbeds!.dtype !== 'float32' || inputsEmbeds!.shape.length !== 3 || inputsEmbeds!.shape[2] !== H) {
      throw new ShapeError(`Gemma2Model: inputsEmbeds must be float32 [B, T, ${H}] (hidden_size ${H}); got ${inputsEmbeds!.dtype} ${formatShape(inputsEmbeds!.shape)}`);
    }
    return this.scaleEmbeddings(inputsEmbeds!);
  }

  forward(input: ModelInput): ModelOutput {
    const { attentionMask, positionIds, cache } = input;
    let hooks = this.hookScope(input.hooks);
    const checkpointLayers = this.gradientCheckpointing && isGradEnabled();
    // refused before anything runs: the cache is left as it was
    if (checkpointLayers) refuseWithCheckpointing(hooks.active || input.outputAttentions === true, cache !== undefined);
    const embeddings = this.inputEmbeddings(input); // [B, T, H]
    const [B, T] = embeddings.shape;
    const start = cache === undefined ? 0 : cache.begin(B, T); // cache position of this call's first token
    if (attentionMask !== undefined && !sameShape(attentionMask.shape, [B, start + T])) {
      throw new ShapeError(`Gemma2Model: attentionMask ${formatShape(attentionMask.shape)} must be [${B}, ${start + T}] (every position so far) for a batch of ${B} x ${T} tokens`);
    }
    if (positionIds !== undefined && !sameShape(positionIds.shape, [B, T])) {
      throw new ShapeError(`Gemma2Model: positionIds ${formatShape(positionIds.shape)} must be [${B}, ${T}] like the tokens`);
    }
    const queryPositions = Int32Array.from({ length: T }, (_, t) => start + t);
    const { cos, sin } = rotaryTables(positionIds === undefined ? [queryPositions] : rowsOf(positionIds), this.config.headDim, this.config.ropeTheta);
    const maskRows = attentionMask === undefined ? undefined : rowsOf(attentionMask);
    // packed rows: the document of each position, from where the position ids restart at 0 (cache-free calls only)
    const documentRows = cache === undefined && positionIds !== undefined ? rowsOf(positionIds).map(documentsFromPositionIds) : undefined;
    const documents = documentRows !== undefined && holdsSeveralDocuments(documentRows) ? documentRows : undefined;
    const masks = [false, true].map((sliding) => {
      const keyPositions = cache === undefined ? queryPositions : cache.keyPositions(sliding, T);
      // the padding flag of each key, looked up by the position it holds
      const keyPadding = maskRows?.map((row) => Int32Array.from(keyPositions, (p) => (p < 0 ? 0 : row[p])));
      return additiveMask({ queryPositions, keyPositions, keyPadding, documents, slidingWindow: sliding ? this.config.slidingWindow : undefined });
    });
    const attentions: Tensor[] = [];
    // output_attentions: each layer's pattern as it flows on (after any hook that replaced it)
    if (input.outputAttentions) hooks = hooks.plus(isAttentionPattern, (pattern) => void attentions.push(pattern));

    let h = hooks.at('embed', embeddings); // [B, T, H]
    const hiddenStates: Tensor[] = [];
    // Without a tape or hooks nothing made inside a layer outlives it but its output, so each layer
    // reuses the arrays of the one before (lib/tensor/arena.ts: fresh pages fault on first touch).
    const reuseArrays = !isGradEnabled() && !hooks.active;
    this.layers.forEach((layer, i) => {
      if (input.outputHiddenStates) hiddenStates.push(h);
      const mask = masks[layer.isSliding ? 1 : 0];
      if (checkpointLayers) {
        h = checkpoint((x) => layer.forward(x, cos, sin, mask, undefined, hooks.within(`layers.${i}`)), [h]);
        return;
      }
      const run = () => layer.forward(h, cos, sin, mask, cache?.layer(i), hooks.within(`layers.${i}`));
      h = reuseArrays ? withArena(run, (output) => [output]) : run();
    });
    cache?.advance(T);
    h = hooks.at('final_norm', this.norm.forward(h));
    if (input.outputHiddenStates) hiddenStates.push(h);
    return {
      lastHiddenState: h,
      hiddenStates: input.outputHiddenStates ? hiddenStates : undefined,
      attentions: input.outputAttentions ? attentions : undefined,
    };
  }

  protected parts(): ModelPart[] {
    return [['embed_tokens.weight', this.embedTokens], ...this.layers.map((layer, i): ModelPart => [`layers.${i}`, layer]), ['norm', this.norm]];
  }

  /** A model with Transformers' initialisation from `options.seed` (zeros without one). */
  static create(config: Gemma2Config, options: ModelOptions = {}): Gemma2Model {
    return new Gemma2Model(config, initOptions(config, options));
  }
}
