// What a training run learns: the task, the model class that learns it, the
// batches it reads and the loss a step sums.
//
//   causal-lm  Gemma2ForCausalLM                next-token cross-entropy; items = counted tokens (labels[:, 1:] != -100)
//   seq-cls    Gemma2ForSequenceClassification  the model's loss by problem_type; items = rows (class ids) or
//                                               target entries (MSE, BCE: their means run over every entry)
//   token-cls  Gemma2ForTokenClassification     cross-entropy per token; items = tokens whose label is not -100
//
// The loss of a step is the sum of its items' losses over the items of all
// its micro-batches (the trainer divides by their count), so K micro-batches
// of B rows give the gradient of one batch of K*B rows. A classifier's
// micro-batch loss is the model's own mean loss (Transformers' loss, exactly)
// times its item count. Transformers 4.47's Trainer passes num_items_in_batch
// only to models whose forward takes **kwargs (Gemma2ForCausalLM); its
// classifiers' losses are per-micro-batch means, averaged over the K
// micro-batches. That is the same whenever the micro-batches count the same
// number of items (always for sequence classification: every micro-batch has
// B rows); for token classification with unequal counts 4.47 weights a token
// of a sparse micro-batch more. Counting across the micro-batches, as the
// causal LM does, keeps "K micro-batches = one batch of K*B rows" for every task.

import fs from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { noGrad } from '../autograd/tape.ts';
import { crossEntropy, mul } from '../ops/index.ts';
import { Gemma2ForCausalLM, shiftLabels } from '../model/causal-lm.ts';
import { Gemma2ForSequenceClassification, Gemma2ForTokenClassification } from '../model/classification.ts';
import type { Gemma2Config } from '../model/config.ts';
import { type LoadOptions, loadPretrained } from '../model/pretrained.ts';
import { CONFIG_NAME } from '../io/checkpoint.ts';
import { type Batch, DataError, type Dataset, IGNORE_INDEX, makeBatch } from './data.ts';
import { type LabelScheme, SequenceClassificationDataset, TokenClassificationDataset, labelMaps, sequenceClassificationBatch, tokenClassificationBatch } from './classification-data.ts';

export const TASKS = ['causal-lm', 'seq-cls', 'token-cls'] as const;
export type TaskKind = (typeof TASKS)[number];

export type ClassifierModel = Gemma2ForSequenceClassification | Gemma2ForTokenClassification;
export type TrainableModel = Gemma2ForCausalLM | ClassifierModel;

export class TaskError extends Error {
  override name = 'TaskError';
}

const CLASS_OF_TASK = {
  'causal-lm': Gemma2ForCausalLM,
  'seq-cls': Gemma2ForSequenceClassification,
  'token-cls': Gemma2ForTokenClassification,
} as const;

/** The task a model is built for. */
export function taskOfModel(model: TrainableModel): TaskKind {
  if (model instanceof Gemma2ForSequenceClassification) return 'seq-cls';
  if (model instanceof Gemma2ForTokenClassification) return 'token-cls';
  return 'causal-lm';
}

/** The task of a model folder, from its config.json's architectures (a bare Gemma2Model or none: causal-lm). */
export function taskOfArchitectures(architectures: readonly string[]): TaskKind {
  for (const task of TASKS) if (architectures.includes(CLASS_OF_TASK[task].architecture)) return task;
  return 'causal-lm';
}

/** The task a dataset's rows are for. */
export function taskOfDataset(data: Dataset): TaskKind {
  if (data instanceof SequenceClassificationDataset) return 'seq-cls';
  if (data instanceof TokenClassificationDataset) return 'token-cls';
  return 'causal-lm';
}

/** Throws unless `data` holds rows for `model`'s task (and, for a classifier, labels it has outputs for). */
export function checkTaskData(model: TrainableModel, data: Dataset): void {
  const task = taskOfModel(model);
  const dataTask = taskOfDataset(data);
  if (task !== dataTask) throw new TaskError(`${data.source}: rows for ${dataTask}, but the model (${model.architecture}) is for ${task}`);
  if (data instanceof SequenceClassificationDataset || data instanceof TokenClassificationDataset) {
    const labels = data.scheme.names.length;
    if (labels !== model.config.numLabels) throw new TaskError(`${data.source}: ${labels} labels, but the model has num_labels ${model.config.numLabels}`);
    if (data instanceof SequenceClassificationDataset && model.config.padTokenId === null && data.attentionMask?.includes(0)) {
      // the pooled logit is the last non-padding token's, found by the pad id (Transformers refuses batches > 1 without one)
      throw new TaskError(`${data.source}: rows are padded but the model's config has no pad_token_id to find each row's last token by`);
    }
  }
}

/** The batch of these rows, with lossTokens the number of items its loss counts. */
export function taskBatch(data: Dataset, rows: readonly number[]): Batch {
  if (data instanceof SequenceClassificationDataset) return sequenceClassificationBatch(data, rows);
  if (data instanceof TokenClassificationDataset) return tokenClassificationBatch(data, rows);
  return makeBatch(data, rows);
}

/** Every row once, in order, in batches of at most batchSize: for evaluation. */
export function* sequentialTaskBatches(data: Dataset, batchSize: number): IterableIterator<Batch> {
  for (let first = 0; first < data.rows; first += batchSize) {
    yield taskBatch(
      data,
      Array.from({ length: Math.min(batchSize, data.rows - first) }, (_, i) => first + i),
    );
  }
}

/** Sum over the batch of the cross-entropy of logits[:, t] predicting labels[:, t + 1] (-100 skipped). */
export function tokenLossSum(logits: Tensor, labels: Tensor): Tensor {
  const [B, T, V] = logits.shape;
  return crossEntropy(logits.reshape([B * T, V]), shiftLabels(labels), { ignoreIndex: IGNORE_INDEX, reduction: 'sum' });
}

/** The batch's loss summed over its items (batch.lossTokens), and the logits; the batch must count at least one item. */
export function batchLossSum(model: TrainableModel, batch: Batch): { sum: Tensor; logits: Tensor } {
  const input = { inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? undefined, positionIds: batch.positionIds ?? undefined };
  if (model instanceof Gemma2ForCausalLM) {
    const { logits } = model.forward(input);
    return { sum: tokenLossSum(logits, batch.labels), logits };
  }
  // the model's mean loss (Transformers' own), times the items it averaged over
  const { logits, loss } = model.forward({ ...input, labels: batch.labels });
  return { sum: mul(loss!, batch.lossTokens), logits };
}

/** A classifier's config for these labels: num_labels, id2label, label2id, problem_type, and its architecture. */
export function classifierConfig(config: Gemma2Config, task: 'seq-cls' | 'token-cls', scheme: LabelScheme): Gemma2Config {
  const { id2label, label2id } = labelMaps(scheme);
  return {
    ...config,
    numLabels: scheme.names.length,
    id2label,
    label2id,
    // token classification's loss is cross-entropy whatever problem_type says; Transformers leaves it null there
    problemType: task === 'seq-cls' ? scheme.problemType : null,
    architectures: [CLASS_OF_TASK[task].architecture],
  };
}

function readArchitectures(dir: string): string[] {
  const file = path.join(dir, CONFIG_NAME);
  if (!fs.existsSync(file)) throw new TaskError(`${dir}: no ${CONFIG_NAME}; not a model folder`);
  let json: { architectures?: unknown };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TaskError(`${file}: not JSON (${(error as Error).message})`);
  }
  return Array.isArray(json.architectures) ? json.architectures.filter((a): a is string => typeof a === 'string') : [];
}

/** The task of a model folder, from its config.json's architectures. */
export function folderTask(dir: string): TaskKind {
  return taskOfArchitectures(readArchitectures(dir));
}

/** A model folder as the class its config.json names (Gemma2ForCausalLM when it names no classifier). */
export function loadTrainableModel(dir: string, options: LoadOptions = {}): TrainableModel {
  return loadForTask(folderTask(dir), dir, options);
}

function loadForTask(task: TaskKind, dir: string, options: LoadOptions): TrainableModel {
  switch (task) {
    case 'causal-lm':
      return Gemma2ForCausalLM.fromPretrained(dir, options);
    case 'seq-cls':
      return Gemma2ForSequenceClassification.fromPretrained(dir, options);
    case 'token-cls':
      return Gemma2ForTokenClassification.fromPretrained(dir, options);
  }
}

/** The seed a run's new score head is drawn from: apart from the data order (seed) and LoRA's (seed + 1, seed + 2). */
export const headSeed = (runSeed: number): number => runSeed + 3;

export interface ClassifierStart {
  task: 'seq-cls' | 'token-cls';
  scheme: LabelScheme;
  /** Seeds the new score head. */
  seed: number;
  weightDtype?: LoadOptions['weightDtype'];
}

/**
 * A classifier for `scheme` from a model folder. A classifier folder of the
 * task loads as it is (its labels must be the scheme's); any other Gemma2
 * folder (a causal LM, a bare model) gives the decoder stack, and the new
 * score head is initialised as Transformers' _init_weights does for a head the
 * checkpoint lacks: weight normal(0, initializer_range), bias zero.
 */
export function classifierFromPretrained(dir: string, start: ClassifierStart): ClassifierModel {
  const { task, scheme } = start;
  const modelClass = CLASS_OF_TASK[task];
  if (folderTask(dir) === task) {
    const model = loadForTask(task, dir, { weightDtype: start.weightDtype }) as ClassifierModel;
    const names = Object.keys(model.config.id2label).sort((a, b) => Number(a) - Number(b)).map((id) => model.config.id2label[id]);
    if (names.length !== scheme.names.length || names.some((n, i) => n !== scheme.names[i])) {
      throw new DataError(`${dir} classifies into ${names.length} labels (${names.join(', ')}); the data has ${scheme.names.length} (${scheme.names.join(', ')})`);
    }
    return model;
  }
  const { model, report } = loadPretrained(dir, (config, weightDtype) => new modelClass(classifierConfig(config, task, scheme), { weightDtype }), {
    weightDtype: start.weightDtype,
    strict: false,
  });
  const problems = [
    ...report.missing.filter((n) => !n.startsWith('score.')).map((n) => `missing: ${n}`),
    ...report.unexpected.map((n) => `unexpected: ${n}`),
    ...report.mismatched.map((m) => `wrong shape: ${m.name}`),
  ];
  if (problems.length > 0) throw new TaskError(`${dir}: the checkpoint does not fit a ${modelClass.architecture}:\n  ${problems.join('\n  ')}`);
  const generator = new Generator(start.seed);
  noGrad(() => {
    const weight = model.score.weight.contiguousData() as Float32Array;
    for (let i = 0; i < weight.length; i++) weight[i] = model.config.initializerRange * generator.nextNormal();
    model.score.weight.markModifiedInPlace();
    (model.score.bias?.contiguousData() as Float32Array | undefined)?.fill(0);
  });
  return model;
}

/** A classifier with random weights for `config` (train from scratch), relabelled for `scheme`. */
export function newClassifier(config: Gemma2Config, start: Omit<ClassifierStart, 'weightDtype'>): ClassifierModel {
  return new CLASS_OF_TASK[start.task](classifierConfig(config, start.task, start.scheme), { seed: start.seed });
}
