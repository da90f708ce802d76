// A model folder with an optional LoRA adapter on top, for the commands that
// use a trained model (eval; generate and merge may share it).
//
//   --model DIR                 loaded as the class its config.json names
//   --model BASE --adapter DIR  the base, then the adapter (PEFT format). A
//                               SEQ_CLS / TOKEN_CLS adapter makes the base a
//                               classifier: its score head comes from the
//                               adapter (modules_to_save), its labels from the
//                               run that trained it (trainer_state.json in a
//                               checkpoint folder) or, for any other PEFT
//                               adapter, num_labels from the head's shape.

import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, LoraModel } from '../train/lora.ts';
import { type TaskKind, type TrainableModel, classifierFromPretrained, folderTask, loadTrainableModel, taskOfModel } from '../train/task.ts';
import { type LabelScheme, defaultLabelNames } from '../train/classification-data.ts';
import { TRAINER_STATE_FILE } from '../train/checkpoint.ts';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

export interface LoadedModel {
  model: TrainableModel;
  lora: LoraModel | null;
  task: TaskKind;
}

const TASK_OF_PEFT: Record<string, TaskKind> = { CAUSAL_LM: 'causal-lm', SEQ_CLS: 'seq-cls', TOKEN_CLS: 'token-cls' };

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ModelLoadError(`${file}: cannot be read as JSON (${(error as Error).message})`);
  }
}

/** The labels of a classifier adapter: the training run's, or LABEL_i for as many as the saved head has rows. */
function adapterLabels(adapterDir: string): LabelScheme {
  const stateFile = path.join(adapterDir, TRAINER_STATE_FILE);
  if (fs.existsSync(stateFile)) {
    const labels = (readJson(stateFile).extra as { cli?: { labels?: LabelScheme | null } } | undefined)?.cli?.labels;
    if (labels != null) return labels;
  }
  const file = SafetensorsFile.open(path.join(adapterDir, ADAPTER_WEIGHTS));
  try {
    const name = 'base_model.model.score.weight';
    if (!file.has(name)) throw new ModelLoadError(`${adapterDir}: a classifier adapter without its score head (${name}); was it saved with modules_to_save ["score"]?`);
    const numLabels = file.info(name).shape[0];
    return { problemType: numLabels === 1 ? 'regression' : 'single_label_classification', names: defaultLabelNames(numLabels) };
  } finally {
    file.close();
  }
}

/** The model in `modelDir`, with the LoRA adapter in `adapterDir` attached when given. */
export function loadModelWithAdapter(modelDir: string, adapterDir?: string): LoadedModel {
  if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) throw new ModelLoadError(`model folder ${modelDir} does not exist`);
  if (adapterDir === undefined) {
    const model = loadTrainableModel(modelDir);
    return { model, lora: null, task: taskOfModel(model) };
  }
  const configFile = path.join(adapterDir, ADAPTER_CONFIG);
  if (!fs.existsSync(configFile)) throw new ModelLoadError(`${adapterDir}: no ${ADAPTER_CONFIG}, so it is not a LoRA adapter folder`);
  const taskType = readJson(configFile).task_type ?? 'CAUSAL_LM';
  const task = TASK_OF_PEFT[taskType as string];
  if (task === undefined) throw new ModelLoadError(`${configFile}: task_type ${JSON.stringify(taskType)} is not one of ${Object.keys(TASK_OF_PEFT).join(', ')}`);
  const baseTask = folderTask(modelDir);
  if (task === 'causal-lm' && baseTask !== task) throw new ModelLoadError(`${adapterDir} adapts a causal LM, but ${modelDir} is a ${baseTask} model`);
  // a classifier adapter over another folder: a classifier of the base's decoder stack, whose head the adapter brings
  const model = baseTask === task ? loadTrainableModel(modelDir) : classifierFromPretrained(modelDir, { task: task as 'seq-cls' | 'token-cls', scheme: adapterLabels(adapterDir), seed: 0 });
  const lora = LoraModel.load(model, adapterDir);
  lora.training = false;
  return { model, lora, task };
}
