// Trainer checkpoints: everything a run needs to continue bit-identically.
//
//   <out>/checkpoint-<step>/
//     config.json, model.safetensors    full fine-tuning: a Hugging Face model folder (float32)
//     adapter_config.json,              LoRA: the PEFT adapter (the base model comes from
//       adapter_model.safetensors         trainer_state.json's "source")
//     tokenizer.json, ...               the tokenizer files of the source folder, when it has them
//     optimizer.safetensors             per-parameter optimizer state under the parameter's name:
//                                         AdamW <name>.step (I64 scalar), <name>.exp_avg, <name>.exp_avg_sq
//                                         SGD   <name>.momentum_buffer
//     trainer_state.json                step, epoch, data position and shuffling-generator state,
//                                       LoRA dropout-generator state, schedule, options, LoRA config,
//                                       model source, best checkpoint and early-stopping count, and a
//                                       bounded summary of the log (the log file holds the history)
//
// A checkpoint is written into checkpoint-<step>.partial, every file fsynced,
// and renamed into place when complete (atomic-write.ts), so an interrupted
// save never leaves a folder that looks whole. A checkpoint with a non-finite
// parameter is refused: it could only hold a diverged run.

import fs from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../tensor/tensor.ts';
import { SafetensorsFile, type TensorToWrite, writeSafetensors } from '../io/safetensors.ts';
import { type TrainableModel, loadTrainableModel } from './task.ts';
import { CHAT_TEMPLATE_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../tokenizer/tokenizer.ts';
import type { AdamWState, SgdState } from './optimizer.ts';
import type { Schedule } from './schedule.ts';
import { type LoraConfig, LoraModel } from './lora.ts';
import type { DataPosition, GeneratorState } from './data.ts';
import type { OptimizerKind, TrainerOptions } from './trainer-options.ts';
import type { EvalLogEntry, LogEntry, TrainLogEntry } from './train-log.ts';
import { commitFolderDurably } from './atomic-write.ts';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const STATE_FORMAT = 'gemma2-ts trainer state';
const OPTIMIZER_FORMAT = 'gemma2-ts optimizer state';

export class TrainerCheckpointError extends Error {
  override name = 'TrainerCheckpointError';
}

/** Where the trained model came from: a LoRA checkpoint rebuilds its base model from this. */
export type ModelSource = { kind: 'pretrained'; dir: string } | { kind: 'init'; config: string; seed: number };

/** What trainer_state.json keeps of the log: bounded, whatever the run's length. */
export interface LogSummary {
  trainSteps: number;
  evaluations: number;
  lastTrain: TrainLogEntry | null;
  lastEval: EvalLogEntry | null;
  /** Steps skipped for a non-finite loss or gradient norm (skipNonFinite): how many, and the latest few. */
  skippedSteps: number;
  recentSkippedSteps: number[];
}

/** Skipped steps listed in the summary (the log file has every one). */
export const RECENT_SKIPPED_STEPS = 20;

export interface TrainerState {
  format: typeof STATE_FORMAT;
  /** 2: a log summary; version 1 kept the whole log history (still read). */
  version: 2;
  /** Optimizer steps taken. */
  step: number;
  /** Epochs of training rows read (fractional). */
  epoch: number;
  tokensSeen: number;
  elapsedSeconds: number;
  /** Position in the data order, with the shuffling generator's state. */
  data: DataPosition;
  /** LoRA's dropout generator, or null without LoRA. */
  dropoutGenerator: GeneratorState | null;
  schedule: Schedule;
  options: TrainerOptions;
  lora: LoraConfig | null;
  source: ModelSource | null;
  logSummary: LogSummary;
  /** Lowest eval loss so far and the checkpoint saved at its step (Transformers' best_metric, best_model_checkpoint); null before any. */
  bestMetric: number | null;
  bestMetricStep: number | null;
  bestCheckpoint: string | null;
  /** Evaluations in a row without improvement (EarlyStoppingCallback's early_stopping_patience_counter). */
  earlyStoppingCounter: number;
  /** Version 1 only: the whole log history. */
  logHistory?: LogEntry[];
  /** Whatever the caller keeps with the run (the CLI keeps its data arguments, so --resume needs no others). */
  extra: Record<string, unknown>;
}

export type OptimizerState = AdamWState | SgdState;

export function checkpointPath(outDir: string, step: number): string {
  return path.join(outDir, `checkpoint-${step}`);
}

/** The optimizer state as safetensors tensors, named after the parameters. */
function optimizerTensors(kind: OptimizerKind, parameters: readonly [string, Tensor][], states: readonly (OptimizerState | null)[]): TensorToWrite[] {
  return parameters.flatMap(([name, p], i): TensorToWrite[] => {
    const s = states[i];
    if (s === null) return [];
    if (kind === 'adamw') {
      const a = s as AdamWState;
      return [
        { name: `${name}.step`, dtype: 'I64', shape: [], data: Int32Array.of(a.step) },
        { name: `${name}.exp_avg`, dtype: 'F32', shape: p.shape, data: a.expAvg },
        { name: `${name}.exp_avg_sq`, dtype: 'F32', shape: p.shape, data: a.expAvgSq },
      ];
    }
    return [{ name: `${name}.momentum_buffer`, dtype: 'F32', shape: p.shape, data: (s as SgdState).momentumBuffer }];
  });
}

export function writeOptimizerState(file: string, kind: OptimizerKind, parameters: readonly [string, Tensor][], states: readonly (OptimizerState | null)[]): void {
  writeSafetensors(file, optimizerTensors(kind, parameters, states), { format: OPTIMIZER_FORMAT, optimizer: kind });
}

/** The per-parameter states of `file` in the order of `parameters` (null where a parameter has none). */
export function readOptimizerState(file: string, kind: OptimizerKind, parameters: readonly [string, Tensor][]): (OptimizerState | null)[] {
  if (!fs.existsSync(file)) throw new TrainerCheckpointError(`${file}: missing; the checkpoint has no optimizer state`);
  const f = SafetensorsFile.open(file);
  try {
    if (f.metadata.optimizer !== kind) throw new TrainerCheckpointError(`${file}: holds ${f.metadata.optimizer ?? 'an unknown optimizer'}'s state, this run uses ${kind}`);
    const used = new Set<string>();
    const read = (name: string, p: Tensor): Float32Array => {
      const shape = f.info(name).shape;
      if (shape.join(',') !== p.shape.join(',')) throw new TrainerCheckpointError(`${file}: ${name} is [${shape}], the parameter is [${p.shape}]`);
      used.add(name);
      return f.readFloat32(name);
    };
    const states = parameters.map(([name, p]): OptimizerState | null => {
      if (kind === 'adamw') {
        if (!f.has(`${name}.exp_avg`)) return null;
        used.add(`${name}.step`);
        const step = f.readInt32(`${name}.step`)[0];
        return { step, expAvg: read(`${name}.exp_avg`, p), expAvgSq: read(`${name}.exp_avg_sq`, p) };
      }
      return f.has(`${name}.momentum_buffer`) ? { momentumBuffer: read(`${name}.momentum_buffer`, p) } : null;
    });
    const unknown = f.names().filter((n) => !used.has(n));
    if (unknown.length > 0) throw new TrainerCheckpointError(`${file}: state for parameters this run does not train: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`);
    return states;
  } finally {
    f.close();
  }
}

export interface CheckpointContents {
  model: TrainableModel;
  lora: LoraModel | null;
  optimizerKind: OptimizerKind;
  /** The trained parameters (name, tensor) and their optimizer states, in the optimizer's order. */
  parameters: readonly [string, Tensor][];
  optimizerStates: readonly (OptimizerState | null)[];
  /** Copy the tokenizer files found here. */
  tokenizerDir: string | null;
  state: TrainerState;
}

/** Throws naming the first trained tensor with a NaN or infinite element. */
export function assertFiniteParameters(parameters: readonly [string, Tensor][], what: string): void {
  for (const [name, p] of parameters) {
    const data = p.floatData();
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new TrainerCheckpointError(`${what}: parameter ${name} [${p.shape}] holds ${data[i]} at element ${i}; a diverged model is not saved`);
      }
    }
  }
}

export function saveTrainerCheckpoint(dir: string, c: CheckpointContents): void {
  assertFiniteParameters(c.parameters, `refusing to save ${dir}`);
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial, { recursive: true });
  if (c.lora !== null) c.lora.save(partial, c.state.source?.kind === 'pretrained' ? c.state.source.dir : '');
  else c.model.savePretrained(partial);
  writeOptimizerState(path.join(partial, OPTIMIZER_FILE), c.optimizerKind, c.parameters, c.optimizerStates);
  if (c.tokenizerDir !== null) {
    for (const name of [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, CHAT_TEMPLATE_FILE]) {
      const from = path.join(c.tokenizerDir, name);
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(partial, name));
    }
  }
  // JSON keeps every number exactly (losses, generator words): the state round-trips bit for bit.
  fs.writeFileSync(path.join(partial, TRAINER_STATE_FILE), `${JSON.stringify(c.state, null, 2)}\n`);
  commitFolderDurably(partial, dir);
}

/** trainer_state.json of a checkpoint folder, checked for the fields a resumed run reads. */
export function readTrainerState(dir: string): TrainerState {
  const file = path.join(dir, TRAINER_STATE_FILE);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new TrainerCheckpointError(`${dir}: not a folder`);
  if (/\.partial\/*$/.test(dir)) throw new TrainerCheckpointError(`${dir}: a checkpoint still being written when its run stopped, not a checkpoint; resume from a complete checkpoint-<step> folder`);
  if (!fs.existsSync(file)) throw new TrainerCheckpointError(`${dir}: no ${TRAINER_STATE_FILE}, so it is not a trainer checkpoint (a checkpoint-<step> folder written by gemma2 train)`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TrainerCheckpointError(`${file}: not JSON (${(error as Error).message})`);
  }
  const s = json as Partial<TrainerState>;
  if (typeof s !== 'object' || s === null || s.format !== STATE_FORMAT) throw new TrainerCheckpointError(`${file}: not a gemma2-ts trainer state (no "format": "${STATE_FORMAT}")`);
  const version = s.version as number;
  if (version !== 1 && version !== 2) throw new TrainerCheckpointError(`${file}: version ${version} is not supported (this gemma2-ts reads versions 1 and 2)`);
  const missing = (['step', 'data', 'schedule', 'options', version === 1 ? 'logHistory' : 'logSummary'] as const).filter((k) => s[k] === undefined);
  if (missing.length > 0) throw new TrainerCheckpointError(`${file}: missing ${missing.join(', ')}`);
  if (!Number.isInteger(s.step) || s.step! < 0) throw new TrainerCheckpointError(`${file}: step ${s.step} is not a step count`);
  if (version === 1) return fromVersion1(s as TrainerState);
  return s as TrainerState;
}

/** A version-1 state (the whole log history inside) in version 2's terms; the history stays for resume. */
function fromVersion1(s: TrainerState): TrainerState {
  const history = s.logHistory!;
  return {
    ...s,
    version: 2,
    logSummary: summarizeLog(history),
    bestMetric: null,
    bestMetricStep: null,
    bestCheckpoint: null,
    earlyStoppingCounter: 0,
  };
}

/** The bounded summary of a log history. */
export function summarizeLog(history: readonly LogEntry[]): LogSummary {
  const train = history.filter((e): e is TrainLogEntry => e.type === 'train');
  const evals = history.filter((e): e is EvalLogEntry => e.type === 'eval');
  const skipped = train.filter((e) => e.skipped !== undefined).map((e) => e.step);
  return {
    trainSteps: train.length,
    evaluations: evals.length,
    lastTrain: train.at(-1) ?? null,
    lastEval: evals.at(-1) ?? null,
    skippedSteps: skipped.length,
    recentSkippedSteps: skipped.slice(-RECENT_SKIPPED_STEPS),
  };
}

/** The model a checkpoint holds: the full model, or the base model (from `baseModel`) with the saved adapters. */
export function loadCheckpointModel(dir: string, state: TrainerState, baseModel?: () => TrainableModel): { model: TrainableModel; lora: LoraModel | null } {
  // a full checkpoint's weights are trained: float32 master weights whatever the files store; a classifier loads as one
  if (state.lora === null) return { model: loadTrainableModel(dir, { weightDtype: 'float32' }), lora: null };
  if (baseModel === undefined) {
    const from = state.source === null ? 'an unrecorded source' : state.source.kind === 'pretrained' ? state.source.dir : `${state.source.config} (seed ${state.source.seed})`;
    throw new TrainerCheckpointError(`${dir} holds LoRA adapters only; resuming needs their base model, which came from ${from}`);
  }
  const model = baseModel();
  return { model, lora: LoraModel.load(model, dir) };
}
