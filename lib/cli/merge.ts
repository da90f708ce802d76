// gemma2 merge: folds a LoRA adapter into its base model (W += (alpha / r) B A,
// PEFT's merge_and_unload) and writes a plain Hugging Face model folder that
// Transformers' from_pretrained and `gemma2 generate --model` load, with the
// base folder's tokenizer files. The base is loaded in float32 (bf16 weights
// are read-only, and the sum is float32 either way); the merged weights are
// stored in the dtype the base checkpoint stores (BF16 or F16 rounded to
// nearest even, F32 as is). The folder is written beside --out and renamed into
// place when complete, so a failed merge leaves no half-written model.

import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.ts';
import { parseCommandLine } from './args.ts';
import { loadModelWithAdapter } from './load-model.ts';
import { setBackend } from '../../kernels/backend.ts';
import { openCheckpoint } from '../io/checkpoint.ts';
import type { SaveOptions } from '../model/pretrained.ts';
import { CHAT_TEMPLATE_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../tokenizer/tokenizer.ts';

export const MERGE_USAGE = `
gemma2 merge --adapter <dir> [--model <dir>] --out <dir> [--overwrite]
  --adapter <dir>      a PEFT LoRA adapter (adapter_config.json), e.g. a checkpoint-<step> of gemma2 train --lora-r
  --model <dir>        its base model folder (default: the adapter's base_model_name_or_path, or the
                       --init weights its training run started from)
  --out <dir>          the merged Hugging Face folder: config.json, model.safetensors (in the base's stored
                       dtype, float32 for --init weights) and the tokenizer files of the base (or the adapter) folder
  --overwrite          replace --out if it is not empty (refused otherwise)`;

const OPTIONS = {
  adapter: { type: 'string' },
  model: { type: 'string' },
  out: { type: 'string' },
  overwrite: { type: 'boolean' },
  backend: { type: 'string' },
} as const;

/** The files a tokenizer may have; those present are copied. */
export const TOKENIZER_FILES = [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, 'special_tokens_map.json', 'tokenizer.model', CHAT_TEMPLATE_FILE, 'generation_config.json'];

/** The dtype every weight of the checkpoint in `dir` is stored in, when they agree; F32 otherwise. */
function storedDtype(dir: string): NonNullable<SaveOptions['dtype']> {
  const checkpoint = openCheckpoint(dir);
  try {
    const dtypes = new Set(checkpoint.names().map((n) => checkpoint.info(n).dtype));
    const only = dtypes.size === 1 ? [...dtypes][0] : 'F32';
    return only === 'BF16' || only === 'F16' ? only : 'F32';
  } finally {
    checkpoint.close();
  }
}

const isFolder = (dir: string) => fs.existsSync(dir) && fs.statSync(dir).isDirectory();

export function runMerge(argv: string[]): number {
  const { values, help } = parseCommandLine('merge', argv, OPTIONS);
  if (help) {
    console.log(MERGE_USAGE.trimStart());
    return 0;
  }
  const text = (name: keyof typeof OPTIONS) => values[name] as string | undefined;
  const adapter = text('adapter');
  const out = text('out');
  if (adapter === undefined) throw new UsageError('merge: --adapter <dir> is required');
  if (out === undefined) throw new UsageError('merge: --out <dir> is required');
  if (fs.existsSync(out) && !isFolder(out)) throw new Error(`merge: --out ${out} is a file, not a folder`);
  if (isFolder(out) && fs.readdirSync(out).length > 0 && values.overwrite !== true) {
    throw new Error(`merge: --out ${out} is not empty; choose another folder, or add --overwrite to replace it`);
  }
  if (text('backend') !== undefined) setBackend(text('backend')!);

  const loaded = loadModelWithAdapter('merge', { model: text('model'), adapter }, { weightDtype: 'float32' });
  const { model, lora, baseDir, adapterDir } = loaded;
  for (const source of [baseDir, adapterDir]) {
    if (source !== null && path.resolve(source) === path.resolve(out)) throw new UsageError(`merge: --out ${out} is the folder the model is read from; choose another`);
  }
  if (lora === null) throw new Error(`merge: ${adapter} holds no LoRA adapter`);
  const dtype = baseDir === null ? 'F32' : storedDtype(baseDir);
  lora.merge();

  const partial = `${path.resolve(out)}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  model.savePretrained(partial, { dtype });
  const tokenizerDir = [baseDir, adapterDir].find((d) => d !== null && fs.existsSync(path.join(d, TOKENIZER_FILE))) ?? null;
  const copied = tokenizerDir === null ? [] : TOKENIZER_FILES.filter((name) => fs.existsSync(path.join(tokenizerDir, name)));
  for (const name of copied) fs.copyFileSync(path.join(tokenizerDir!, name), path.join(partial, name));
  fs.rmSync(out, { recursive: true, force: true });
  fs.renameSync(partial, out);

  console.log(`merged ${loaded.description}`);
  console.log(`wrote ${out}: config.json, model.safetensors (${dtype}${baseDir === null ? ', the --init weights were float32' : ', as the base stores it'})`);
  console.log(tokenizerDir === null ? 'no tokenizer files: neither the base nor the adapter folder has tokenizer.json' : `tokenizer files from ${tokenizerDir}: ${copied.join(', ')}`);
  return 0;
}
