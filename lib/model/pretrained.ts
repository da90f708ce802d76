// Loading and saving Hugging Face model folders (config.json + safetensors,
// one file or shards), from a path on Node or any ModelFolder, to a path or
// any FolderSink (lib/io/model-folder.ts). Weights are matched by name and
// shape; every missing, unexpected or mis-shaped weight is reported by name
// in one error. Weights are streamed one at a time into the model's own
// storage. The model classes reach these through PreTrainedModel
// (pretrained-model.ts).
//
// The weights' dtype in memory (LoadOptions.weightDtype):
//   'auto' (default)  a checkpoint whose every weight is stored BF16 (as every
//                     Gemma2 release is) keeps its weight matrices (embedding,
//                     projections, untied LM head) in bfloat16, read from the
//                     file as they are stored: half the memory of float32, and
//                     half the bytes a decode step reads. The kernels widen
//                     them exactly as they read (lib/tensor/dtype.ts), so
//                     every result is bit-identical to widening at load. Any
//                     other checkpoint (F32, F16, F64, or mixed) loads as
//                     float32, F16 and BF16 widened exactly, as before.
//   'float32'         every weight in float32 (what training needs: bfloat16
//                     tensors are read-only and never require gradients).
//   'bfloat16'        the weight matrices in bfloat16 whatever the file
//                     stores: F32 and F16 rounded to nearest even.
// Norm weights, biases and a classifier's score head are float32 in every
// mode (small; the score head is what a classifier fine-tune trains). F16
// checkpoints are not kept in F16: they widen to float32 at load (a half
// needs more than a shift to widen: subnormals, Inf, NaN).
//
// Names follow Transformers: a model with a head ("model." prefix) loads a
// bare Gemma2Model checkpoint by adding the prefix, and a bare Gemma2Model
// loads a checkpoint with a head by dropping it; the other head's weights
// (lm_head, score) are then reported as unused, not as errors.

import { CONFIG_NAME, openCheckpoint, saveCheckpoint, type Checkpoint } from '../io/checkpoint.ts';
import type { FolderSink, ModelFolder } from '../io/model-folder.ts';
import { type Gemma2Config, gemma2ConfigToJson, parseGemma2Config, ConfigError } from './config.ts';
import type { Module } from './module.ts';
import type { WeightDType } from '../tensor/storage.ts';
import { noGrad } from '../autograd/tape.ts';

export class WeightLoadError extends Error {
  override name = 'WeightLoadError';
}

export interface LoadReport {
  /** Parameters the checkpoint does not have. */
  missing: string[];
  /** Checkpoint weights no parameter takes (and that are not another head's). */
  unexpected: string[];
  /** Checkpoint weights of another architecture's head, skipped as Transformers skips them. */
  unused: string[];
  mismatched: { name: string; expected: number[]; found: number[] }[];
}

export interface LoadOptions {
  /** Throw on any missing, unexpected or mis-shaped weight (default true). */
  strict?: boolean;
  /**
   * The weight matrices' dtype in memory (see the top of this file): 'auto'
   * (default) keeps a bf16 checkpoint in bf16 and loads anything else as
   * float32; 'float32' forces float32 (training); 'bfloat16' forces bf16.
   */
  weightDtype?: 'auto' | WeightDType;
}

/** The dtype of the weight matrices for this checkpoint and option (see the top of this file). */
export function chooseWeightDtype(checkpoint: Checkpoint, asked: LoadOptions['weightDtype'] = 'auto'): WeightDType {
  if (asked !== 'auto' && asked !== 'float32' && asked !== 'bfloat16') {
    throw new WeightLoadError(`weightDtype must be 'auto', 'float32' or 'bfloat16', got ${JSON.stringify(asked)}`);
  }
  if (asked !== 'auto') return asked;
  const names = checkpoint.names();
  return names.length > 0 && names.every((n) => checkpoint.info(n).dtype === 'BF16') ? 'bfloat16' : 'float32';
}

const HEAD_PREFIXES = ['lm_head.', 'score.'];

/** How a checkpoint name maps to this model's parameter names: add or drop the "model." prefix if needed. */
function nameMapper(parameterNames: Set<string>, checkpointNames: string[]): (name: string) => string {
  const modelHasPrefix = [...parameterNames].some((n) => n.startsWith('model.'));
  const checkpointHasPrefix = checkpointNames.some((n) => n.startsWith('model.'));
  if (modelHasPrefix && !checkpointHasPrefix) return (n) => (HEAD_PREFIXES.some((p) => n.startsWith(p)) ? n : `model.${n}`);
  if (!modelHasPrefix && checkpointHasPrefix) return (n) => (n.startsWith('model.') ? n.slice('model.'.length) : n);
  return (n) => n;
}

/** Copies every checkpoint weight into the parameter of the same name (after prefix mapping). */
export function loadWeights(model: Module & { config: Gemma2Config }, checkpoint: Checkpoint, options: LoadOptions = {}): LoadReport {
  const parameters = new Map(model.namedParameters());
  const names = checkpoint.names();
  const toParameter = nameMapper(new Set(parameters.keys()), names);
  const report: LoadReport = { missing: [], unexpected: [], unused: [], mismatched: [] };
  const present = new Set<string>(); // parameters the checkpoint has, whatever their shape
  const tiedHead = model.config.tieWordEmbeddings;
  const plan: [string, string][] = [];
  for (const name of names) {
    const target = toParameter(name);
    const parameter = parameters.get(target);
    if (parameter === undefined) {
      const otherHead = HEAD_PREFIXES.some((p) => name.startsWith(p)) || (tiedHead && name === 'lm_head.weight');
      (otherHead ? report.unused : report.unexpected).push(name);
      continue;
    }
    const found = [...checkpoint.info(name).shape];
    if (found.join(',') !== parameter.shape.join(',')) {
      report.mismatched.push({ name, expected: parameter.shape, found });
      present.add(target);
      continue;
    }
    plan.push([name, target]);
    present.add(target);
  }
  report.missing = [...parameters.keys()].filter((n) => !present.has(n));
  const problems = [
    ...report.missing.map((n) => `missing: ${n}`),
    ...report.unexpected.map((n) => `unexpected: ${n}`),
    ...report.mismatched.map((m) => `wrong shape: ${m.name} is [${m.found}] in the checkpoint, the model expects [${m.expected}]`),
  ];
  if ((options.strict ?? true) && problems.length > 0) {
    throw new WeightLoadError(`${checkpoint.dir}: the checkpoint does not fit the model (${problems.length} problems):\n  ${problems.join('\n  ')}`);
  }
  noGrad(() => {
    // Straight into each parameter's storage: no second copy of any weight. A bfloat16
    // parameter takes a BF16 weight's bytes as they are stored.
    for (const [name, target] of plan) {
      const parameter = parameters.get(target)!;
      const storage = parameter.contiguousData();
      if (storage instanceof Uint16Array) checkpoint.readBfloat16(name, storage);
      else checkpoint.readFloat32(name, storage as Float32Array);
      parameter.markModifiedInPlace(); // a graph that saved this weight can no longer use it
    }
  });
  return report;
}

/**
 * Opens a model folder (a path on Node, or a ModelFolder), builds the model
 * from its config.json with `create` (its weight matrices in the dtype
 * options.weightDtype chooses for this checkpoint), and loads its weights.
 */
export function loadPretrained<M extends Module & { config: Gemma2Config }>(
  source: string | ModelFolder,
  create: (config: Gemma2Config, weightDtype: WeightDType) => M,
  options: LoadOptions = {},
): { model: M; report: LoadReport } {
  const checkpoint = openCheckpoint(source);
  try {
    let config: Gemma2Config;
    try {
      config = parseGemma2Config(checkpoint.config);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${checkpoint.folder.describe(CONFIG_NAME)}: ${error.message}`);
      throw error;
    }
    const model = create(config, chooseWeightDtype(checkpoint, options.weightDtype));
    const report = loadWeights(model, checkpoint, options);
    return { model, report };
  } finally {
    checkpoint.close();
  }
}

export interface SaveOptions {
  /** Stored dtype (default F32). bfloat16 weights are written as they are held for BF16 (the bits they were loaded with), widened exactly for F32. */
  dtype?: 'F32' | 'BF16' | 'F16';
  /** Split into shards above this many bytes (default 5 GB, as Transformers). */
  maxShardBytes?: number;
}

/** Writes config.json and the weights (to a path on Node, or a FolderSink) so that Transformers' from_pretrained can load the folder. */
export function savePretrained(model: Module & { config: Gemma2Config }, target: string | FolderSink, architecture: string, options: SaveOptions = {}): void {
  const config: Record<string, unknown> = { ...gemma2ConfigToJson(model.config), architectures: [architecture] };
  if (options.dtype === 'BF16') config.torch_dtype = 'bfloat16';
  else if (options.dtype === 'F16') config.torch_dtype = 'float16';
  else config.torch_dtype = 'float32';
  // bfloat16 weights go as their bits (Uint16Array): saveCheckpoint stores them as they are for BF16, widens them for F32
  const weights = model.namedParameters().map(([name, p]) => ({ name, shape: p.shape, data: p.contiguousData() as Float32Array | Uint16Array }));
  saveCheckpoint(target, config, weights, { dtype: options.dtype, maxShardBytes: options.maxShardBytes });
}
