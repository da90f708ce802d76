// Gemma2ForCausalLM: the decoder stack and the language-model head
// (GEMMA2.md, "Forward pass" step 4 and "Heads and loss"):
//   logits = h E^T                   E the embedding (tied) or lm_head.weight
//   logits = c tanh(logits / c)      if final_logit_softcapping = c (Gemma2's, huggingface/transformers#31659)
//                                    (one op, linearSoftcap, when no hook needs the uncapped logits)
//   loss   = cross-entropy of logits[:, :-1] against labels[:, 1:],
//            labels equal to -100 ignored, mean over the counted tokens
//            (Transformers' ForCausalLMLoss, huggingface/transformers#34191)

import { Tensor } from '../tensor/tensor.ts';
import { withArena } from '../tensor/arena.ts';
import { isGradEnabled } from '../autograd/tape.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { crossEntropy, expectInt, linear, linearSoftcap, softcap } from '../ops/index.ts';
import type { Gemma2Config } from './config.ts';
import { Gemma2Model, type ModelInput, type ModelOptions, initOptions } from './gemma2-model.ts';
import { initWeight } from './module.ts';
import { type ModelPart, PreTrainedModel } from './pretrained-model.ts';
import { hookPointNames } from './hook-points.ts';
import type { HookScope } from './hooks.ts';

export interface CausalLMInput extends ModelInput {
  /** int32 [B, T]: the tokens to predict, usually inputIds, -100 where no loss is wanted. */
  labels?: Tensor;
  /**
   * Compute logits for the last N positions only (generation needs 1): [B, N, vocab].
   * 0 (Transformers' default) or absent: every position. No loss with N < T.
   */
  numLogitsToKeep?: number;
}

/** How many positions get logits: numLogitsToKeep (0: all, Transformers 4.47's special case), at most T. */
function logitsToKeep(numLogitsToKeep: number | undefined, T: number): number {
  if (numLogitsToKeep === undefined || numLogitsToKeep === 0) return T;
  if (!Number.isInteger(numLogitsToKeep) || numLogitsToKeep < 0) {
    throw new RangeError(`Gemma2ForCausalLM: numLogitsToKeep must be a whole number >= 0 (0 keeps every position), got ${numLogitsToKeep}`);
  }
  return Math.min(numLogitsToKeep, T);
}

export interface CausalLMOutput {
  /** [B, T, vocab] */
  logits: Tensor;
  /** Scalar, when labels are given. */
  loss?: Tensor;
  hiddenStates?: Tensor[];
  attentions?: Tensor[];
}

/**
 * The targets of logits [B, T, V] read as [B * T, V] rows: labels[b, t + 1] at
 * (b, t), and -100 (ignored) at each row's last position, which predicts
 * nothing. So the loss reads the logits as they are, with no copy of
 * logits[:, :-1] (Transformers pads the labels the same way since 4.48).
 */
export function shiftLabels(labels: Tensor): Tensor {
  const [B, T] = labels.shape;
  const ids = labels.contiguousData();
  const shifted = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) shifted.set(ids.subarray(b * T + 1, (b + 1) * T), b * T);
  return Tensor.fromData(shifted, [B * T]);
}

/** Mean cross-entropy of logits[:, t] predicting labels[:, t + 1] (-100 ignored). */
export function causalLMLoss(logits: Tensor, labels: Tensor): Tensor {
  const [B, T, V] = logits.shape;
  expectInt('causalLMLoss', 'labels', labels);
  if (!sameShape(labels.shape, [B, T])) {
    throw new ShapeError(`causalLMLoss: labels ${formatShape(labels.shape)} must be [${B}, ${T}] like the logits ${formatShape(logits.shape)}`);
  }
  return crossEntropy(logits.reshape([B * T, V]), shiftLabels(labels), { ignoreIndex: -100 });
}

export class Gemma2ForCausalLM extends PreTrainedModel {
  static readonly architecture = 'Gemma2ForCausalLM';
  readonly model: Gemma2Model;
  /** Only when the embedding is not tied to the head. */
  readonly lmHead: Tensor | null;

  constructor(
    readonly config: Gemma2Config,
    options: ModelOptions = {},
  ) {
    super();
    const init = initOptions(config, options);
    this.model = new Gemma2Model(config, init);
    this.lmHead = config.tieWordEmbeddings ? null : initWeight([config.vocabSize, config.hiddenSize], init);
  }

  /** The [vocab, H] matrix the head multiplies by. */
  get headWeight(): Tensor {
    return this.lmHead ?? this.model.embedTokens;
  }

  /** The decoder stack's hook points, then the head's: logits_raw, logits. */
  override hookPointNames(): string[] {
    return hookPointNames(this.config.numHiddenLayers, true);
  }

  forward(input: CausalLMInput): CausalLMOutput {
    const hooks = this.hookScope(input.hooks);
    const { lastHiddenState, hiddenStates, attentions } = this.model.forward({ ...input, hooks });
    const T = lastHiddenState.shape[1];
    const keep = logitsToKeep(input.numLogitsToKeep, T);
    const h = keep === T ? lastHiddenState : lastHiddenState.narrow(1, T - keep, keep);
    if (input.labels !== undefined && keep !== T) {
      throw new ShapeError(`Gemma2ForCausalLM: labels need the logits of every position; numLogitsToKeep ${input.numLogitsToKeep} keeps ${keep} of ${T}`);
    }
    const head = () => {
      const cap = this.config.finalLogitSoftcapping;
      // without hooks the softcap is the product's epilogue (linearSoftcap: no array of uncapped logits; the same bits)
      const logits = cap !== null && !hooks.active ? linearSoftcap(h, this.headWeight, cap) : this.composedHead(h, hooks); // [B, keep, V]
      const loss = input.labels === undefined ? undefined : causalLMLoss(logits, input.labels);
      return { logits, loss };
    };
    // as in the decoder layers (gemma2-model.ts): the raw logits and the loss's intermediates reuse arrays
    const reuseArrays = !isGradEnabled() && !hooks.active;
    const { logits, loss } = reuseArrays ? withArena(head, (out) => (out.loss === undefined ? [out.logits] : [out.logits, out.loss])) : head();
    return { logits, loss, hiddenStates, attentions };
  }

  /** The head as separate ops, for the hook points logits_raw and logits. */
  private composedHead(h: Tensor, hooks: HookScope): Tensor {
    const cap = this.config.finalLogitSoftcapping;
    const raw = hooks.at('logits_raw', linear(h, this.headWeight));
    return hooks.at('logits', cap === null ? raw : softcap(raw, cap));
  }

  protected parts(): ModelPart[] {
    return [['model', this.model], ['lm_head.weight', this.lmHead]];
  }
}
