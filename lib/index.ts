// gemma2-ts: the public API for Node (the package's "." export): the
// browser-safe core (lib/core.ts, the "./core" export) plus what needs Node:
// training with its checkpoints and data files, and golden parity.

// Everything that also runs in a browser: tensors, autograd, ops, backends,
// the model classes, generation, the tokenizer, byte sources and folders.
export * from './core.ts';
export { isSlidingLayer, PROBLEM_TYPES } from './model/config.ts';

// Training (lib/train): optimizers, schedules, LoRA, data and the resumable trainer.
export { Optimizer, AdamW, SGD, OptimizerError, type ParamGroup, type AdamWOptions, type SgdOptions } from './train/optimizer.ts';
export { clipGradNorm } from './train/clip.ts';
export { learningRateFactor, type Schedule, type ScheduleKind } from './train/schedule.ts';
export { LoraModel, LoraError, type LoraConfig } from './train/lora.ts';
export {
  Dataset,
  DataError,
  IGNORE_INDEX,
  tokenBlocks,
  tokenFileDataset,
  readTokenFile,
  jsonlDataset,
  splitDataset,
  type TextTokenizer,
  type ChatTokenizer,
  type TokenOptions,
  type JsonlOptions,
  type JsonlLayout,
} from './train/data.ts';
export { tokenizeJsonl, type Example, type ExampleFormat, type ExampleOptions } from './train/jsonl-examples.ts';
export { packExamples, padExamples, bestFitDecreasing, type RowLayout } from './train/packing.ts';
export { Trainer, type TrainerSetup, type ResumeSetup, type TrainResult } from './train/trainer.ts';
export { TrainerError, resolveTrainerOptions, type TrainerOptions, type OptimizerKind } from './train/trainer-options.ts';
export { LOG_FILE, PLOT_FILE, type LogEntry, type TrainLogEntry, type EvalLogEntry } from './train/train-log.ts';
export { ProgressBar } from './train/progress.ts';
export { TrainerCheckpointError, type ModelSource } from './train/checkpoint.ts';
export {
  sequenceClassificationDataset,
  tokenClassificationDataset,
  sequenceLabelScheme,
  tokenLabelScheme,
  SequenceClassificationDataset,
  TokenClassificationDataset,
  type LabelScheme,
} from './train/classification-data.ts';
export { classifierFromPretrained, newClassifier, loadTrainableModel, type TaskKind, type TrainableModel } from './train/task.ts';
export { evaluateModel, stridedPerplexity, type EvalResult, type PerplexityResult } from './train/evaluate.ts';
export { MetricsAccumulator, type ClassificationMetrics } from './train/metrics.ts';

// Golden parity (lib/golden): run a case computed by Transformers and compare every tensor.
export { GoldenCase, GoldenCaseError, type CaseKind } from './golden/case.ts';
export { runGoldenCase, type CaseResult } from './golden/run.ts';
export { ModelStore } from './golden/model-store.ts';
export { compareTensor, type Comparison, type Tolerance } from './golden/compare.ts';
