// The model that `gemma2 generate`, `eval` and `merge` run: a Hugging Face
// model folder (loaded as the class its config.json names), or a base model
// with a PEFT LoRA adapter attached.
//
//   --model DIR                  the folder
//   --model BASE --adapter DIR   the base, then the adapter
//   --adapter DIR                the adapter; its base is adapter_config.json's
//                                base_model_name_or_path when that is a folder
//                                here (gemma2 train writes the absolute path),
//                                or, for a run that started from random weights
//                                (--init), the config and seed recorded in the
//                                checkpoint's trainer_state.json
//   --model CHECKPOINT           a LoRA checkpoint-<step> of gemma2 train
//                                (adapter_config.json, no config.json): the
//                                adapter, as with --adapter
//
// A SEQ_CLS / TOKEN_CLS adapter makes the base a classifier: its score head
// comes from the adapter (PEFT's modules_to_save), its labels from the run that
// trained it (trainer_state.json in a checkpoint folder) or, for any other
// PEFT adapter, num_labels from the head's shape.

import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { parseGemma2Config } from '../model/config.ts';
import { CONFIG_NAME } from '../io/checkpoint.ts';
import { SafetensorsFile } from '../io/safetensors.ts';
import type { LoadOptions } from '../model/pretrained.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, LoraModel } from '../train/lora.ts';
import { TRAINER_STATE_FILE, type ModelSource } from '../train/checkpoint.ts';
import { type TaskKind, type TrainableModel, classifierFromPretrained, folderTask, loadTrainableModel, newClassifier, taskOfModel } from '../train/task.ts';
import { type LabelScheme, defaultLabelNames } from '../train/classification-data.ts';

export interface LoadedModel {
  model: TrainableModel;
  /** The attached adapter, or null for a plain model folder. */
  lora: LoraModel | null;
  task: TaskKind;
  /** The base model's folder (null for random --init weights). */
  baseDir: string | null;
  /** The adapter folder, or null. */
  adapterDir: string | null;
  /** One line for the user: what was loaded. */
  description: string;
}

const TASK_OF_PEFT: Record<string, TaskKind> = { CAUSAL_LM: 'causal-lm', SEQ_CLS: 'seq-cls', TOKEN_CLS: 'token-cls' };

const isFolder = (dir: string) => fs.existsSync(dir) && fs.statSync(dir).isDirectory();

function readJson(file: string, command: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${command}: ${file} cannot be read as JSON (${(error as Error).message})`);
  }
}

/** Whether `dir` is an adapter folder rather than a model folder. */
export function isAdapterFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, ADAPTER_CONFIG)) && !fs.existsSync(path.join(dir, CONFIG_NAME));
}

/** Where an adapter's base model is, when --model does not say: a folder, or gemma2 train's --init config and seed. */
function adapterBase(command: string, adapterDir: string): { kind: 'folder'; dir: string } | { kind: 'init'; config: string; seed: number } {
  const adapterConfig = readJson(path.join(adapterDir, ADAPTER_CONFIG), command);
  const named = adapterConfig.base_model_name_or_path;
  if (typeof named === 'string' && named !== '') {
    const dir = path.resolve(adapterDir, named);
    if (isFolder(dir)) return { kind: 'folder', dir };
  }
  const stateFile = path.join(adapterDir, TRAINER_STATE_FILE);
  const source = fs.existsSync(stateFile) ? (readJson(stateFile, command).source as ModelSource | null | undefined) : undefined;
  if (source?.kind === 'init') return { kind: 'init', config: source.config, seed: source.seed };
  const where = typeof named === 'string' && named !== '' ? `its base model ${JSON.stringify(named)} (base_model_name_or_path in ${ADAPTER_CONFIG}) is not a folder here` : `${ADAPTER_CONFIG} names no base model`;
  throw new UsageError(`${command}: ${adapterDir} is a LoRA adapter and ${where}; give the base model folder with --model <dir>`);
}

/** What an adapter adapts, from its task_type (PEFT's; absent: a causal LM). */
function adapterTask(command: string, adapterDir: string): TaskKind {
  const file = path.join(adapterDir, ADAPTER_CONFIG);
  const taskType = readJson(file, command).task_type ?? 'CAUSAL_LM';
  const task = TASK_OF_PEFT[taskType as string];
  if (task === undefined) throw new Error(`${command}: ${file}: task_type ${JSON.stringify(taskType)} is not one of ${Object.keys(TASK_OF_PEFT).join(', ')}`);
  return task;
}

/** The labels of a classifier adapter: the training run's, or LABEL_i for as many as the saved head has rows. */
function adapterLabels(command: string, adapterDir: string): LabelScheme {
  const stateFile = path.join(adapterDir, TRAINER_STATE_FILE);
  if (fs.existsSync(stateFile)) {
    const labels = (readJson(stateFile, command).extra as { cli?: { labels?: LabelScheme | null } } | undefined)?.cli?.labels;
    if (labels != null) return labels;
  }
  const file = SafetensorsFile.open(path.join(adapterDir, ADAPTER_WEIGHTS));
  try {
    const name = 'base_model.model.score.weight';
    if (!file.has(name)) throw new Error(`${command}: ${adapterDir}: a classifier adapter without its score head (${name}); was it saved with modules_to_save ["score"]?`);
    const numLabels = file.info(name).shape[0];
    return { problemType: numLabels === 1 ? 'regression' : 'single_label_classification', names: defaultLabelNames(numLabels) };
  } finally {
    file.close();
  }
}

/**
 * The model `--model` / `--adapter` name, loaded with `load` (weightDtype:
 * 'float32' to merge). An adapter is attached for inference (no dropout).
 */
export function loadModelWithAdapter(command: string, args: { model?: string; adapter?: string }, load: LoadOptions = {}): LoadedModel {
  let modelDir = args.model;
  let adapterDir = args.adapter;
  if (modelDir === undefined && adapterDir === undefined) throw new UsageError(`${command}: give --model <dir>, --adapter <dir>, or both`);
  for (const [option, dir] of [['--model', modelDir], ['--adapter', adapterDir]] as const) {
    if (dir !== undefined && !isFolder(dir)) throw new Error(`${command}: ${option} folder ${dir} does not exist`);
  }
  if (modelDir !== undefined && isAdapterFolder(modelDir)) {
    // a LoRA checkpoint given as --model: it is the adapter, its base comes from its files
    if (adapterDir !== undefined) throw new UsageError(`${command}: --model ${modelDir} is a LoRA adapter (${ADAPTER_CONFIG}, no ${CONFIG_NAME}); give the base model folder with --model and the adapter with --adapter`);
    adapterDir = modelDir;
    modelDir = undefined;
  }
  if (adapterDir !== undefined && !fs.existsSync(path.join(adapterDir, ADAPTER_CONFIG))) {
    throw new Error(`${command}: --adapter ${adapterDir} has no ${ADAPTER_CONFIG}, so it is not a LoRA adapter folder`);
  }
  if (adapterDir === undefined) {
    const model = loadTrainableModel(modelDir!, load);
    return { model, lora: null, task: taskOfModel(model), baseDir: modelDir!, adapterDir: null, description: modelDir! };
  }

  const task = adapterTask(command, adapterDir);
  const base = modelDir !== undefined ? ({ kind: 'folder', dir: modelDir } as const) : adapterBase(command, adapterDir);
  let model: TrainableModel;
  let baseText: string;
  if (base.kind === 'folder') {
    const baseTask = folderTask(base.dir);
    if (task === 'causal-lm' && baseTask !== task) throw new Error(`${command}: ${adapterDir} adapts a causal LM, but ${base.dir} is a ${baseTask} model`);
    // a classifier adapter over a causal-LM folder: a classifier of the base's decoder stack, whose head the adapter brings
    model = baseTask === task ? loadTrainableModel(base.dir, load) : classifierFromPretrained(base.dir, { task: task as 'seq-cls' | 'token-cls', scheme: adapterLabels(command, adapterDir), seed: 0, weightDtype: load.weightDtype });
    baseText = base.dir;
  } else {
    // gemma2 train --init: the same seeded random weights the run started from
    const config = parseGemma2Config(readJson(base.config, command));
    model = task === 'causal-lm' ? new Gemma2ForCausalLM(config, { seed: base.seed }) : newClassifier(config, { task, scheme: adapterLabels(command, adapterDir), seed: base.seed });
    baseText = `random weights from ${base.config} (seed ${base.seed})`;
  }
  const lora = LoraModel.load(model, adapterDir);
  lora.training = false;
  return { model, lora, task, baseDir: base.kind === 'folder' ? base.dir : null, adapterDir, description: `${baseText} with the LoRA adapter ${adapterDir}` };
}
