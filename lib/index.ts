// gemma2-ts: the public API for Node (the package's "." export). The tensor
// library first, then the model, generation, tokenizer, training and golden
// parity built on it. Node-only parts (file paths, the trainer's checkpoints)
// are here too; lib/core.ts is the browser-safe entry.

export { Tensor, type NestedArray } from './tensor/tensor.ts';
export { type DType } from './tensor/dtype.ts';
export { ShapeError, broadcastShapes, formatShape, type Shape } from './tensor/shape.ts';
export { full, zeros, ones, arange, randn, uniform, randint, tensor, type CreationOptions, type RandomOptions } from './tensor/creation.ts';
export { Generator, manualSeed } from './tensor/random.ts';
export { noGrad, isGradEnabled, backward, GradientError } from './autograd/tape.ts';
export * from './ops/index.ts';
export {
  setBackend,
  resetBackend,
  currentBackend,
  describeBackend,
  availableBackends,
  withBackend,
  BackendError,
  BACKENDS,
  type BackendName,
} from '../kernels/backend.ts';
export { kernelStats, resetKernelStats, clearKernelCache, KernelLimitError, MAX_KERNEL_AXIS } from '../kernels/launch.ts';

// The model (lib/model): configuration, the four model classes, loading and saving Hugging Face folders.
export {
  parseGemma2Config,
  gemma2ConfigToJson,
  isSlidingLayer,
  ConfigError,
  GEMMA2_DEFAULTS,
  PROBLEM_TYPES,
  type Gemma2Config,
  type LayerType,
  type ProblemType,
} from './model/config.ts';
export { Gemma2Model, type ModelInput, type ModelOutput, type ModelOptions } from './model/gemma2-model.ts';
export { Gemma2ForCausalLM, type CausalLMInput, type CausalLMOutput } from './model/causal-lm.ts';
export { Gemma2ForSequenceClassification, Gemma2ForTokenClassification, type ClassificationInput, type ClassificationOutput } from './model/classification.ts';
export { type Module, type NamedParameters } from './model/module.ts';
export { WeightLoadError, type LoadOptions, type LoadReport, type SaveOptions } from './model/pretrained.ts';

// Generation (lib/generation): greedy and sampled decoding over a HybridCache.
export { generate, GenerationError, type GenerateOptions, type GenerateResult } from './generation/generate.ts';
export { HybridCache, CacheError, type HybridCacheOptions } from './generation/hybrid-cache.ts';
export { SamplingError, type SamplingOptions } from './generation/sampling.ts';

// Tokenizers (lib/tokenizer): tokenizer.json, chat templates, streaming text.
export { HfTokenizer, type ChatMessage, type ChatTemplateOptions, type DecodeOptions, type EncodeOptions } from './tokenizer/tokenizer.ts';
export { TextStreamer, type TextStreamerOptions } from './tokenizer/streamer.ts';
export { TokenizerError, ChatTemplateError } from './tokenizer/errors.ts';

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
  readJsonlTexts,
  splitDataset,
  type TextTokenizer,
  type TokenOptions,
  type JsonlOptions,
} from './train/data.ts';
export { Trainer, type TrainerSetup, type ResumeSetup, type TrainResult } from './train/trainer.ts';
export { TrainerError, resolveTrainerOptions, type TrainerOptions, type OptimizerKind } from './train/trainer-options.ts';
export { LOG_FILE, PLOT_FILE, type LogEntry, type TrainLogEntry, type EvalLogEntry } from './train/train-log.ts';
export { ProgressBar } from './train/progress.ts';
export { TrainerCheckpointError, type ModelSource } from './train/checkpoint.ts';

// Golden parity (lib/golden): run a case computed by Transformers and compare every tensor.
export { GoldenCase, GoldenCaseError, type CaseKind } from './golden/case.ts';
export { runGoldenCase, type CaseResult } from './golden/run.ts';
export { ModelStore } from './golden/model-store.ts';
export { compareTensor, type Comparison, type Tolerance } from './golden/compare.ts';
