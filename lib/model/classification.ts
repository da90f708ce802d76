// Classification heads on the decoder stack (GEMMA2.md, "Heads and loss").
//   Gemma2ForSequenceClassification: score (Linear H -> num_labels, no bias)
//     on every position, then the row of each sequence's last non-padding
//     token (pad_token_id; without one, the last position). Left and right
//     padding both work, as in newer Transformers.
//   Gemma2ForTokenClassification: score (Linear H -> num_labels, with bias)
//     on every position. Dropout is an identity at evaluation.
// Losses: integer labels give cross-entropy (-100 ignored for tokens); one
// label with float targets gives mean squared error (regression).

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { embedding } from '../ops/embedding.ts';
import { crossEntropy } from '../ops/cross-entropy.ts';
import { mean } from '../ops/reduce.ts';
import { mul, sub } from '../ops/arithmetic.ts';
import type { Gemma2Config } from './config.ts';
import { Gemma2Model, type ModelInput, type ModelOptions, initOptions } from './gemma2-model.ts';
import { Linear, type Module, type NamedParameters, withPrefix } from './module.ts';
import { type LoadOptions, type SaveOptions, loadPretrained, savePretrained } from './pretrained.ts';

export interface ClassificationInput extends ModelInput {
  /**
   * Sequence classification: [B] int32 class ids, or float32 targets when
   * num_labels is 1 (regression). Token classification: [B, T] int32, -100 ignored.
   */
  labels?: Tensor;
}

export interface ClassificationOutput {
  /** [B, num_labels] (sequence) or [B, T, num_labels] (token). */
  logits: Tensor;
  loss?: Tensor;
  hiddenStates?: Tensor[];
}

/** Cross-entropy for class ids, mean squared error for one float target per example. */
function classificationLoss(op: string, logits: Tensor, labels: Tensor, numLabels: number): Tensor {
  if (labels.dtype === 'int32') {
    if (!sameShape(labels.shape, logits.shape.slice(0, -1))) {
      throw new ShapeError(`${op}: labels ${formatShape(labels.shape)} must be ${formatShape(logits.shape.slice(0, -1))} for logits ${formatShape(logits.shape)}`);
    }
    return crossEntropy(logits, labels, { ignoreIndex: -100 });
  }
  if (numLabels !== 1) {
    throw new ShapeError(`${op}: float labels mean regression, which needs num_labels = 1 (this model has ${numLabels}); pass int32 class ids instead`);
  }
  const predictions = logits.reshape(logits.shape.slice(0, -1));
  if (!sameShape(labels.shape, predictions.shape)) {
    throw new ShapeError(`${op}: labels ${formatShape(labels.shape)} must be ${formatShape(predictions.shape)}`);
  }
  const error = sub(predictions, labels);
  return mean(mul(error, error));
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

export class Gemma2ForSequenceClassification implements Module {
  readonly model: Gemma2Model;
  readonly score: Linear;

  constructor(
    readonly config: Gemma2Config,
    options: ModelOptions = {},
  ) {
    const init = initOptions(config, options);
    this.model = new Gemma2Model(config, init);
    this.score = new Linear(config.hiddenSize, config.numLabels, false, init);
  }

  forward(input: ClassificationInput): ClassificationOutput {
    const { lastHiddenState, hiddenStates } = this.model.forward(input);
    const [B, T] = input.inputIds.shape;
    const perToken = this.score.forward(lastHiddenState).reshape([B * T, this.config.numLabels]); // [B*T, labels]
    const pooledRows = lastTokenIndices(input.inputIds, this.config.padTokenId).map((t, b) => b * T + t);
    // Picking rows is an embedding lookup into the per-token logits, gradient included.
    const logits = embedding(Tensor.fromData(Int32Array.from(pooledRows), [B]), perToken); // [B, labels]
    const loss = input.labels === undefined ? undefined : classificationLoss('Gemma2ForSequenceClassification', logits, input.labels, this.config.numLabels);
    return { logits, loss, hiddenStates };
  }

  /** Loads a Hugging Face folder (config.json + safetensors, one file or shards). */
  static fromPretrained(dir: string, options?: LoadOptions): Gemma2ForSequenceClassification {
    return loadPretrained(dir, (config) => new Gemma2ForSequenceClassification(config), options).model;
  }

  /** Writes a folder Transformers' Gemma2ForSequenceClassification.from_pretrained can load. */
  savePretrained(dir: string, options?: SaveOptions): void {
    savePretrained(this, dir, 'Gemma2ForSequenceClassification', options);
  }

  namedParameters(): NamedParameters {
    return [...withPrefix('model', this.model), ...withPrefix('score', this.score)];
  }
}

export class Gemma2ForTokenClassification implements Module {
  readonly model: Gemma2Model;
  readonly score: Linear;

  constructor(
    readonly config: Gemma2Config,
    options: ModelOptions = {},
  ) {
    const init = initOptions(config, options);
    this.model = new Gemma2Model(config, init);
    this.score = new Linear(config.hiddenSize, config.numLabels, true, init);
  }

  forward(input: ClassificationInput): ClassificationOutput {
    const { lastHiddenState, hiddenStates } = this.model.forward(input);
    const logits = this.score.forward(lastHiddenState); // [B, T, labels]
    const loss = input.labels === undefined ? undefined : classificationLoss('Gemma2ForTokenClassification', logits, input.labels, this.config.numLabels);
    return { logits, loss, hiddenStates };
  }

  /** Loads a Hugging Face folder (config.json + safetensors, one file or shards). */
  static fromPretrained(dir: string, options?: LoadOptions): Gemma2ForTokenClassification {
    return loadPretrained(dir, (config) => new Gemma2ForTokenClassification(config), options).model;
  }

  /** Writes a folder Transformers' Gemma2ForTokenClassification.from_pretrained can load. */
  savePretrained(dir: string, options?: SaveOptions): void {
    savePretrained(this, dir, 'Gemma2ForTokenClassification', options);
  }

  namedParameters(): NamedParameters {
    return [...withPrefix('model', this.model), ...withPrefix('score', this.score)];
  }
}
