// Classification heads on the decoder stack (GEMMA2.md, "Heads and loss").
//   Gemma2ForSequenceClassification: score (Linear H -> num_labels, no bias)
//     on every position, then the row of each sequence's last non-padding
//     token (pad_token_id; without one, the last position). Left and right
//     padding both work, as in Transformers after 4.47
//     (huggingface/transformers#35911).
//   Gemma2ForTokenClassification: score (Linear H -> num_labels, with bias)
//     on every position. Dropout is an identity at evaluation.
// Losses, as Transformers 4.47 computes them (loss_utils.py):
//   sequence classification, by config.problem_type (huggingface/transformers#11012);
//   when it is null, one label means regression, integer labels single-label,
//   float ones multi-label:
//     regression                  mean squared error (one label: of the squeezed
//                                 pooled logits against [B] targets)
//     single_label_classification cross-entropy of [B] class ids (-100 ignored)
//     multi_label_classification  BCE with logits against float 0/1 targets
//                                 [B, num_labels], mean over every entry
//   token classification: cross-entropy at every position, -100 ignored,
//     whatever problem_type says.
// Transformers also writes the problem type it chose back into the config, so
// a later call with other labels keeps it; here each call decides anew.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { binaryCrossEntropyWithLogits, crossEntropy, embedding, mean, mul, sub } from '../ops/index.ts';
import type { Gemma2Config, ProblemType } from './config.ts';
import { Gemma2Model, type ModelInput, type ModelOptions, initOptions } from './gemma2-model.ts';
import { Linear } from './module.ts';
import { type ModelPart, PreTrainedModel } from './pretrained-model.ts';

export interface ClassificationInput extends ModelInput {
  /**
   * Sequence classification: [B] int32 class ids (single-label), [B] float32
   * targets (regression, one label; [B, num_labels] for several), or float32
   * 0/1 targets [B, num_labels] (multi-label). Token classification: [B, T]
   * int32, -100 ignored.
   */
  labels?: Tensor;
}

export interface ClassificationOutput {
  /** [B, num_labels] (sequence) or [B, T, num_labels] (token). */
  logits: Tensor;
  loss?: Tensor;
  hiddenStates?: Tensor[];
  attentions?: Tensor[];
}

const SEQUENCE = 'Gemma2ForSequenceClassification';

/** The loss a sequence classifier computes for these labels (Transformers' rule when problem_type is null). */
export function sequenceProblemType(config: Gemma2Config, labels: Tensor): ProblemType {
  if (config.problemType !== null) return config.problemType;
  if (config.numLabels === 1) return 'regression';
  return labels.dtype === 'int32' ? 'single_label_classification' : 'multi_label_classification';
}

/** The loss of pooled logits [B, num_labels] against `labels`, by the problem type. */
export function sequenceClassificationLoss(config: Gemma2Config, logits: Tensor, labels: Tensor): Tensor {
  const [B, numLabels] = logits.shape;
  const problem = sequenceProblemType(config, labels);
  const labelsMustBe = (shape: number[], what: string) =>
    new ShapeError(`${SEQUENCE}: ${problem} needs ${what} ${formatShape(shape)} for pooled logits ${formatShape(logits.shape)}; got ${labels.dtype} labels ${formatShape(labels.shape)}`);
  switch (problem) {
    case 'regression': {
      // integer targets are values like any other: regressed as floats
      const targets = labels.dtype === 'int32' ? Tensor.fromData(Float32Array.from(labels.contiguousData()), labels.shape) : labels;
      if (numLabels === 1) {
        // Transformers squeezes both sides: [B, 1] logits against [B] (or [B, 1]) targets
        if (!sameShape(targets.shape, [B]) && !sameShape(targets.shape, [B, 1])) throw labelsMustBe([B], 'targets');
        return meanSquaredError(logits.reshape([B]), targets.reshape([B]));
      }
      if (!sameShape(targets.shape, [B, numLabels])) throw labelsMustBe([B, numLabels], 'targets');
      return meanSquaredError(logits, targets);
    }
    case 'single_label_classification':
      if (labels.dtype !== 'int32' || !sameShape(labels.shape, [B])) throw labelsMustBe([B], 'int32 class ids');
      return crossEntropy(logits, labels, { ignoreIndex: -100 });
    case 'multi_label_classification':
      if (labels.dtype !== 'float32' || !sameShape(labels.shape, [B, numLabels])) throw labelsMustBe([B, numLabels], 'float32 0/1 targets');
      return binaryCrossEntropyWithLogits(logits, labels);
  }
}

/** mean((predictions - targets)^2) over every element (MSELoss). */
function meanSquaredError(predictions: Tensor, targets: Tensor): Tensor {
  const error = sub(predictions, targets);
  return mean(mul(error, error));
}

/** Cross-entropy of logits [B, T, num_labels] against int32 labels [B, T], -100 ignored, mean over the counted positions. */
export function tokenClassificationLoss(logits: Tensor, labels: Tensor): Tensor {
  const expected = logits.shape.slice(0, -1);
  if (labels.dtype !== 'int32' || !sameShape(labels.shape, expected)) {
    throw new ShapeError(
      `Gemma2ForTokenClassification: labels must be int32 class ids ${formatShape(expected)} (-100 ignored) for logits ${formatShape(logits.shape)}; got ${labels.dtype} labels ${formatShape(labels.shape)}`,
    );
  }
  return crossEntropy(logits, labels, { ignoreIndex: -100 });
}

/** For each row, the index of its last token that is not padding (0 if every token is). */
export function lastTokenIndices(inputIds: Tensor, padTokenId: number | null): number[] {
  const [B, T] = inputIds.shape;
  const ids = inputIds.contiguousData();
  return Array.from({ length: B }, (_, b) => {
    if (padTokenId === null) return T - 1;
    for (let t = T - 1; t >= 0; t--) if (ids[b * T + t] !== padTokenId) return t;
    return 0;
  });
}

export class Gemma2ForSequenceClassification extends PreTrainedModel {
  static readonly architecture = 'Gemma2ForSequenceClassification';
  readonly model: Gemma2Model;
  readonly score: Linear;

  constructor(
    readonly config: Gemma2Config,
    options: ModelOptions = {},
  ) {
    super();
    const init = initOptions(config, options);
    this.model = new Gemma2Model(config, init);
    this.score = new Linear(config.hiddenSize, config.numLabels, false, { ...init, weightDtype: 'float32' }); // float32 always: small, and what a fine-tune trains
  }

  forward(input: ClassificationInput): ClassificationOutput {
    const { lastHiddenState, hiddenStates, attentions } = this.model.forward({ ...input, hooks: this.hookScope(input.hooks) });
    const [B, T] = lastHiddenState.shape;
    const perToken = this.score.forward(lastHiddenState).reshape([B * T, this.config.numLabels]); // [B*T, labels]
    // with inputsEmbeds there are no ids to find padding in: the last position, as Transformers does
    const lastTokens = input.inputIds === undefined ? new Array<number>(B).fill(T - 1) : lastTokenIndices(input.inputIds, this.config.padTokenId);
    const pooledRows = lastTokens.map((t, b) => b * T + t);
    // Picking rows is an embedding lookup into the per-token logits, gradient included.
    const logits = embedding(Tensor.fromData(Int32Array.from(pooledRows), [B]), perToken); // [B, labels]
    const loss = input.labels === undefined ? undefined : sequenceClassificationLoss(this.config, logits, input.labels);
    return { logits, loss, hiddenStates, attentions };
  }

  protected parts(): ModelPart[] {
    return [['model', this.model], ['score', this.score]];
  }
}

export class Gemma2ForTokenClassification extends PreTrainedModel {
  static readonly architecture = 'Gemma2ForTokenClassification';
  readonly model: Gemma2Model;
  readonly score: Linear;

  constructor(
    readonly config: Gemma2Config,
    options: ModelOptions = {},
  ) {
    super();
    const init = initOptions(config, options);
    this.model = new Gemma2Model(config, init);
    this.score = new Linear(config.hiddenSize, config.numLabels, true, { ...init, weightDtype: 'float32' }); // float32 always: small, and what a fine-tune trains
  }

  forward(input: ClassificationInput): ClassificationOutput {
    const { lastHiddenState, hiddenStates, attentions } = this.model.forward({ ...input, hooks: this.hookScope(input.hooks) });
    const logits = this.score.forward(lastHiddenState); // [B, T, labels]
    const loss = input.labels === undefined ? undefined : tokenClassificationLoss(logits, input.labels);
    return { logits, loss, hiddenStates, attentions };
  }

  protected parts(): ModelPart[] {
    return [['model', this.model], ['score', this.score]];
  }
}
