// The model `gemma2 generate` and `gemma2 merge` run: a Hugging Face model
// folder, or a base model with a PEFT LoRA adapter attached. The adapter is
// named by --adapter, or is the --model folder itself when that holds
// adapter_config.json and no config.json (a LoRA checkpoint-<step> written by
// `gemma2 train`). Its base model is --model when both are given; otherwise
// the adapter's adapter_config.json base_model_name_or_path when that is a
// folder here (gemma2 train writes the absolute path), or, for a run that
// started from random weights (--init), the config and seed recorded in the
// checkpoint's trainer_state.json.

import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { parseGemma2Config } from '../model/config.ts';
import { CONFIG_NAME } from '../io/checkpoint.ts';
import type { LoadOptions } from '../model/pretrained.ts';
import { ADAPTER_CONFIG, LoraModel } from '../train/lora.ts';
import { TRAINER_STATE_FILE, type ModelSource } from '../train/checkpoint.ts';

export interface LoadedModel {
  model: Gemma2ForCausalLM;
  /** The attached adapter, or null for a plain model folder. */
  lora: LoraModel | null;
  /** The base model's folder (null for random --init weights). */
  baseDir: string | null;
  /** The adapter folder, or null. */
  adapterDir: string | null;
  /** One line for the user: what was loaded. */
  description: string;
}

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
    const model = Gemma2ForCausalLM.fromPretrained(modelDir!, load);
    return { model, lora: null, baseDir: modelDir!, adapterDir: null, description: modelDir! };
  }

  let model: Gemma2ForCausalLM;
  let baseDir: string | null;
  let baseText: string;
  const base = modelDir !== undefined ? ({ kind: 'folder', dir: modelDir } as const) : adapterBase(command, adapterDir);
  if (base.kind === 'folder') {
    model = Gemma2ForCausalLM.fromPretrained(base.dir, load);
    baseDir = base.dir;
    baseText = base.dir;
  } else {
    // gemma2 train --init: the same seeded random weights the run started from
    model = new Gemma2ForCausalLM(parseGemma2Config(readJson(base.config, command)), { seed: base.seed });
    baseDir = null;
    baseText = `random weights from ${base.config} (seed ${base.seed})`;
  }
  const lora = LoraModel.load(model, adapterDir);
  lora.training = false;
  return { model, lora, baseDir, adapterDir, description: `${baseText} with the LoRA adapter ${adapterDir}` };
}
