// Where the page's models come from: the golden models (golden/models/, as
// golden/MANIFEST.json lists them), the addition model shipped with the page
// (assets/models/addition/, made by make-addition-model.ts), and any Hugging
// Face folder the user picks or drops, read from the browser's File objects
// into memory (nothing is uploaded). Each ends as a MemoryModelFolder, which
// the library's loaders take as they take a path on Node.

import { MemoryModelFolder } from '../io/memory-folder.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { HfTokenizer } from '../tokenizer/tokenizer.ts';

/** A model the page can fetch: its folder's URL (relative to the page) and the files in it. */
export interface BuiltInModel {
  name: string;
  url: string;
  files: string[];
  about: string;
}

interface ManifestModel {
  name: string;
  architecture?: string;
  files: Record<string, string>;
}

export class ModelSourceError extends Error {
  override name = 'ModelSourceError';
}

/** Fetches `url` as bytes; a failed request is an error naming the URL and status. */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new ModelSourceError(`${url}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

export async function fetchJson<T>(url: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await fetchBytes(url))) as T;
}

/** The addition model shipped with the page (assets/models/addition/, made by make-addition-model.ts). */
export const ADDITION_MODEL: BuiltInModel = {
  name: 'addition',
  url: 'models/addition/',
  files: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'],
  about: 'the two-digit addition model `npm start` trains ("<bos>47+85=" -> "231", the sum least-significant digit first)',
};

/** The golden causal LMs (golden/MANIFEST.json), then the addition model. */
export async function builtInModels(): Promise<BuiltInModel[]> {
  const manifest = await fetchJson<{ models: ManifestModel[] }>('golden/MANIFEST.json');
  const golden = manifest.models
    .filter((m) => m.architecture === undefined || m.architecture === 'Gemma2ForCausalLM')
    .map((m) => ({ name: m.name, url: `golden/models/${m.name}/`, files: Object.keys(m.files), about: `golden model ${m.name} (random weights, made by Transformers)` }));
  return [ADDITION_MODEL, ...golden];
}

/** A built-in model's folder, fetched into memory. */
export async function fetchModelFolder(model: BuiltInModel): Promise<MemoryModelFolder> {
  const contents = await Promise.all(model.files.map((file) => fetchBytes(`${model.url}${file}`)));
  return new MemoryModelFolder(
    model.files.map((file, i) => [file, contents[i]]),
    model.name,
  );
}

/**
 * The Files of a dropped folder: a DataTransfer's items, a folder entry read
 * one level deep (a model folder is flat), loose files taken as they are.
 */
export async function filesFromDrop(transfer: DataTransfer): Promise<File[]> {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry()).filter((entry): entry is FileSystemEntry => entry !== null);
  if (entries.length === 0) return [...transfer.files];
  const files: File[] = [];
  for (const entry of entries) {
    if (entry.isFile) files.push(await entryFile(entry as FileSystemFileEntry));
    else if (entry.isDirectory) {
      for (const child of await directoryEntries(entry as FileSystemDirectoryEntry)) if (child.isFile) files.push(await entryFile(child as FileSystemFileEntry));
    }
  }
  return files;
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function directoryEntries(directory: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = directory.createReader();
  const all: FileSystemEntry[] = [];
  // readEntries hands out a batch at a time, an empty one at the end
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

/** The files a model folder needs, checked before loading so the message names what is missing. */
export function checkModelFiles(folder: MemoryModelFolder): void {
  const names = folder.list();
  const missing: string[] = [];
  if (!folder.has('config.json')) missing.push('config.json');
  if (!names.some((name) => name.endsWith('.safetensors'))) missing.push('a *.safetensors file (or shards with model.safetensors.index.json)');
  if (missing.length > 0) {
    throw new ModelSourceError(`${folder.name} has no ${missing.join(' and no ')}; it has ${names.length === 0 ? 'nothing' : names.join(', ')}`);
  }
}

export interface LoadedModel {
  name: string;
  model: Gemma2ForCausalLM;
  tokenizer: HfTokenizer | null;
  /** Why there is no tokenizer (the folder has no tokenizer.json), or null. */
  tokenizerNote: string | null;
  folder: MemoryModelFolder;
}

/** Loads a causal LM (and its tokenizer, when the folder has tokenizer.json) from an in-memory folder. */
export function loadModel(folder: MemoryModelFolder): LoadedModel {
  checkModelFiles(folder);
  // float32 in the page whatever the checkpoint stores: the backward view trains the model (weights kept in
  // bf16 are read-only), and widening bf16 is exact, so every forward gives the bits of a bf16 load
  const model = Gemma2ForCausalLM.fromPretrained(folder, { weightDtype: 'float32' });
  const hasTokenizer = folder.has('tokenizer.json');
  return {
    name: folder.name,
    model,
    tokenizer: hasTokenizer ? HfTokenizer.fromPretrained(folder) : null,
    tokenizerNote: hasTokenizer ? null : `${folder.name} has no tokenizer.json: give token ids`,
    folder,
  };
}
