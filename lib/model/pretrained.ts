// Loading and saving Hugging Face model folders (config.json + safetensors,
// one file or shards), from a path on Node or any ModelFolder, to a path or
// any FolderSink (lib/io/model-folder.ts). Weights are matched by name and
// shape; every missing, unexpected or mis-shaped weight is reported by name
// in one error. Weights are streamed one at a time into the model's own
// storage, widened from BF16/F16 to float32 on the way. The model classes
// reach these through PreTrainedModel (pretrained-model.ts).
//
// Names follow Transformers: a model with a head ("model." prefix) loads a
// bare Gemma2Model checkpoint by adding the prefix, and a bare Gemma2Model
// loads a checkpoint with a head by dropping it; the other head's weights
// (lm_head, score) are then reported as unused, not as errors.

import { CONFIG_NAME, openCheckpoint, saveCheckpoint, type Checkpoint } from '../io/checkpoint.ts';
import type { FolderSink, ModelFolder } from '../io/model-folder.ts';
import { type Gemma2Config, gemma2ConfigToJson, parseGemma2Config, ConfigError } from './config.ts';
import type { Module } from './module.ts';
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
    // Straight into each parameter's storage: no second float copy of any weight.
    for (const [name, target] of plan) {
      const parameter = parameters.get(target)!;
      checkpoint.readFloat32(name, parameter.contiguousData() as Float32Array);
      parameter.markModifiedInPlace(); // a graph that saved this weight can no longer use it
    }
  });
  return report;
}

/** Opens a model folder (a path on Node, or a ModelFolder), builds the model from its config.json with `create`, and loads its weights. */
export function loadPretrained<M extends Module & { config: Gemma2Config }>(
  source: string | ModelFolder,
  create: (config: Gemma2Config) => M,
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
    const model = create(config);
    const report = loadWeights(model, checkpoint, options);
    return { model, report };
  } finally {
    checkpoint.close();
  }
}

export interface SaveOptions {
  /** Stored dtype (default F32). */
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
  const weights = model.namedParameters().map(([name, p]) => ({ name, shape: p.shape, data: p.contiguousData() as Float32Array }));
  saveCheckpoint(target, config, weights, { dtype: options.dtype, maxShardBytes: options.maxShardBytes });
}
