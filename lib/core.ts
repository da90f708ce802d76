// gemma2-ts core: the part of the library that runs in a browser as well as on
// Node. Nothing it imports, directly or through other modules, imports a Node
// built-in (the layering rules of .dependency-cruiser.cjs check the closure), so it bundles for a
// browser unchanged. Files are read through byte sources and model folders:
// on Node a path works wherever a folder is taken; in a browser pass a
// MemoryModelFolder (bytes you fetched, or `await MemoryModelFolder.fromFiles(input.files)`).
//
//   const folder = await MemoryModelFolder.fromFiles(directoryInput.files);
//   const model = Gemma2ForCausalLM.fromPretrained(folder);
//   const tokenizer = HfTokenizer.fromPretrained(folder);
//   const { sequences } = generate(model, tensor([tokenizer.encode('Hi')], { dtype: 'int32' }), { maxNewTokens: 16 });
//
// The Node entry (lib/index.ts) adds what needs Node: training, the CLI, the
// golden runner.

// Tensors, autograd, ops and backends.
export { Tensor, type NestedArray } from './tensor/tensor.ts';
export { type DType, roundToBfloat16, widenBfloat16 } from './tensor/dtype.ts';
export { type WeightDType } from './tensor/storage.ts';
export { ShapeError, broadcastShapes, formatShape, type Shape } from './tensor/shape.ts';
export { full, zeros, ones, arange, randn, uniform, randint, tensor, type CreationOptions, type RandomOptions } from './tensor/creation.ts';
export { Generator, manualSeed } from './tensor/random.ts';
export { clearArena } from './tensor/arena.ts';
export { noGrad, isGradEnabled, backward, GradientError } from './autograd/tape.ts';
export * from './ops/index.ts';
export {
  backend,
  setBackend,
  setComputePath,
  setThreads,
  setResidentBudget,
  resetBackend,
  currentBackend,
  describeBackend,
  availableBackends,
  cpuPathUnavailableReason,
  withBackend,
  withComputePath,
  withThreads,
  BackendError,
  BACKENDS,
  COMPUTE_PATHS,
  type Backend,
  type BackendName,
  type ComputePath,
} from '../kernels/backend.ts';
export { kernelStats, resetKernelStats, clearKernelCache, KernelLimitError, MAX_KERNEL_AXIS } from '../kernels/launch.ts';
export { registeredKernels, kernelNames, type KernelDefinition, type Agreement, type CpuKind } from '../kernels/registry.ts';

// The model.
export { type Gemma2Config, type LayerType, type ProblemType, ConfigError, GEMMA2_DEFAULTS, parseGemma2Config, gemma2ConfigToJson } from './model/config.ts';
export { type Module, type NamedParameters } from './model/module.ts';
export { PreTrainedModel, type PreTrainedModelClass, type ModelPart } from './model/pretrained-model.ts';
export { type LoadOptions, type LoadReport, type SaveOptions, WeightLoadError, loadPretrained } from './model/pretrained.ts';
export { Gemma2Model, type ModelInput, type ModelOutput, type ModelOptions } from './model/gemma2-model.ts';
export { Gemma2ForCausalLM, type CausalLMInput, type CausalLMOutput } from './model/causal-lm.ts';
export { Gemma2ForSequenceClassification, Gemma2ForTokenClassification, type ClassificationInput, type ClassificationOutput } from './model/classification.ts';
export { type ModelCache, type LayerCache, type KeyValues } from './model/cache.ts';
export { HookScope, type HookFunction, type HookPoint, type HookSelector, type Hooks, type CacheSelection } from './model/hooks.ts';
export { type HookPointSpec, LAYER_POINTS, LM_HEAD_POINTS, MODEL_END_POINTS, MODEL_START_POINTS, hookPointNames, hookPointSpec } from './model/hook-points.ts';

// Generation.
export { generate, GenerationError, type GenerateOptions, type GenerateResult } from './generation/generate.ts';
export { HybridCache, CacheError, type HybridCacheOptions } from './generation/hybrid-cache.ts';
export { SamplingError, type SamplingOptions } from './generation/sampling.ts';

// Tokenizer.
export { HfTokenizer, type ChatMessage, type EncodeOptions, type DecodeOptions, type ChatTemplateOptions } from './tokenizer/tokenizer.ts';
export { TextStreamer, type TextStreamerOptions } from './tokenizer/streamer.ts';
export { TokenizerError, ChatTemplateError } from './tokenizer/errors.ts';

// Files: byte sources, model folders, safetensors, checkpoints.
export { type ByteSource, IoError, MemoryByteSource, byteSourceFromBlob } from './io/byte-source.ts';
export type { ModelFolder, FolderSink } from './io/model-folder.ts';
export { openModelFolder, openFolderSink } from './io/open-folder.ts';
export { MemoryModelFolder, type FileContent } from './io/memory-folder.ts';
export { DirectoryFolder } from './io/directory-folder.ts';
export {
  SafetensorsFile,
  SafetensorsError,
  serializeSafetensors,
  parseSafetensorsHeader,
  writeSafetensorsTo,
  type SafetensorsDType,
  type TensorInfo,
  type TensorToWrite,
} from './io/safetensors.ts';
export { Checkpoint, CheckpointError, openCheckpoint, saveCheckpoint, type WeightInfo } from './io/checkpoint.ts';
export { bf16ToF32, f32ToBf16, f16ToF32, f32ToF16 } from './io/float-formats.ts';
