// Hugging Face model folders: config.json plus weights in one
// model.safetensors or in shards listed by model.safetensors.index.json,
// read from any ModelFolder (a directory on Node, bytes in memory) and
// written to any FolderSink (model-folder.ts).
//
// openCheckpoint validates the whole folder up front (every shard's header,
// and that the index and the shards agree name for name) but reads no weight
// data: a loader streams weights one at a time with readFloat32 (or
// readBfloat16, keeping BF16 weights as stored), so it never holds all file
// bytes and all float copies at once.
//
// saveCheckpoint writes what Transformers' save_pretrained writes (4.47):
// config.json (keys sorted, indent 2), and either model.safetensors or shards
// model-0000i-of-0000N.safetensors split by huggingface_hub's rule (tensors in
// the order given; a tensor that would push the current shard past
// maxShardBytes starts a new one; a tensor larger than the limit gets a shard
// of its own) with model.safetensors.index.json {"metadata": {"total_size"},
// "weight_map"}; every file's __metadata__ is {"format": "pt"}, which
// Transformers requires to load safetensors.

import { IoError } from './byte-source.ts';
import type { FolderSink, ModelFolder } from './model-folder.ts';
import { openFolderSink, openModelFolder } from './open-folder.ts';
import {
  type SafetensorsDType,
  type TensorToWrite,
  DTYPE_SIZES,
  SafetensorsFile,
  elementCount,
  checkTensorsToWrite,
  closestNames,
  writeSafetensorsTo,
} from './safetensors.ts';

export const CONFIG_NAME = 'config.json';
export const SINGLE_WEIGHTS_NAME = 'model.safetensors';
export const INDEX_NAME = 'model.safetensors.index.json';
/** Transformers' default max_shard_size, "5GB" (decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
const SHARD_PATTERN = /^model-\d{5}-of-\d{5}\.safetensors$/;

/** A folder that is not a usable checkpoint; the message names the folder and the file or weight. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface WeightInfo {
  readonly name: string;
  readonly shape: readonly number[];
  /** The dtype the weight is stored in. */
  readonly dtype: SafetensorsDType;
  /** The file (in the folder) that holds it. */
  readonly file: string;
}

export class Checkpoint {
  /** The folder's name in errors (its path, for a directory). */
  readonly dir: string;
  readonly folder: ModelFolder;
  /** config.json, parsed (a JSON object). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The weight files, relative to dir, in the order opened. */
  readonly files: readonly string[];
  private readonly weights: Map<string, { info: WeightInfo; file: SafetensorsFile }>;
  private readonly opened: SafetensorsFile[];

  /** Use openCheckpoint. */
  constructor(folder: ModelFolder, config: Record<string, unknown>, opened: Map<string, SafetensorsFile>) {
    this.folder = folder;
    this.dir = folder.name;
    this.config = config;
    this.files = [...opened.keys()];
    this.opened = [...opened.values()];
    this.weights = new Map();
    for (const [fileName, file] of opened) {
      for (const t of file.header.tensors) {
        this.weights.set(t.name, { info: { name: t.name, shape: t.shape, dtype: t.dtype, file: fileName }, file });
      }
    }
  }

  /** Weight names, file by file in header order. */
  names(): string[] {
    return [...this.weights.keys()];
  }

  has(name: string): boolean {
    return this.weights.has(name);
  }

  /** Shape, stored dtype and file of one weight; an unknown name is an error listing similar names. */
  info(name: string): WeightInfo {
    return this.entry(name).info;
  }

  /**
   * One weight as float32 (F16/BF16 widened exactly, F64 rounded); read from
   * disk now, not cached. With `into`, written there instead of a new array.
   */
  readFloat32(name: string, into?: Float32Array): Float32Array {
    return this.entry(name).file.readFloat32(name, into);
  }

  /**
   * One weight as bfloat16 bits: BF16 exactly as stored (no conversion), F32
   * and F16 rounded to nearest even; read from disk now. With `into`, written
   * there instead of a new array.
   */
  readBfloat16(name: string, into?: Uint16Array): Uint16Array {
    return this.entry(name).file.readBfloat16(name, into);
  }

  /** Closes every weight file. */
  close(): void {
    for (const file of this.opened) file.close();
  }

  private entry(name: string): { info: WeightInfo; file: SafetensorsFile } {
    const entry = this.weights.get(name);
    if (entry === undefined) {
      const names = this.names();
      throw new CheckpointError(`${this.dir}: no weight ${JSON.stringify(name)}; the checkpoint has ${names.length}${closestNames(name, names)}`);
    }
    return entry;
  }
}

/** Runs `run`, turning a file's IoError into the CheckpointError with the same message. */
function asCheckpointError<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof IoError) throw new CheckpointError(error.message);
    throw error;
  }
}

function readJson(folder: ModelFolder, file: string, what: string): unknown {
  const text = asCheckpointError(() => folder.readText(file));
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${folder.describe(file)}: the ${what} is not valid JSON (${(error as Error).message})`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Opens a Hugging Face model folder (a path on Node, or a ModelFolder):
 * config.json and the weights, from model.safetensors if present
 * (Transformers looks there first), else from the shards
 * model.safetensors.index.json lists. Throws CheckpointError (folder
 * problems) or SafetensorsError (a malformed weight file) before returning.
 */
export function openCheckpoint(source: string | ModelFolder): Checkpoint {
  const folder = asCheckpointError(() => openModelFolder(source));
  const dir = folder.name;
  if (!folder.has(CONFIG_NAME)) throw new CheckpointError(`${dir}: no ${CONFIG_NAME} in the folder`);
  const config = readJson(folder, CONFIG_NAME, 'model config');
  if (!isObject(config)) throw new CheckpointError(`${folder.describe(CONFIG_NAME)}: the model config must be a JSON object`);

  const opened = new Map<string, SafetensorsFile>();
  try {
    if (folder.has(SINGLE_WEIGHTS_NAME)) {
      opened.set(SINGLE_WEIGHTS_NAME, SafetensorsFile.openIn(folder, SINGLE_WEIGHTS_NAME));
    } else if (folder.has(INDEX_NAME)) {
      openShards(folder, opened);
    } else {
      const present = folder.list().filter((f) => /\.(bin|pt|pth|safetensors|gguf|h5|msgpack)$/.test(f));
      const hint = present.length > 0 ? ` (found ${present.slice(0, 5).join(', ')}; only safetensors checkpoints are read)` : '';
      throw new CheckpointError(`${dir}: no weights: neither ${SINGLE_WEIGHTS_NAME} nor ${INDEX_NAME} is in the folder${hint}`);
    }
    return new Checkpoint(folder, config, opened);
  } catch (error) {
    for (const file of opened.values()) file.close();
    throw error;
  }
}

/** Opens every shard the index lists and checks that the index and the shards agree exactly. */
function openShards(folder: ModelFolder, opened: Map<string, SafetensorsFile>): void {
  const dir = folder.name;
  const indexPath = folder.describe(INDEX_NAME);
  const index = readJson(folder, INDEX_NAME, 'weight index');
  if (!isObject(index) || !isObject(index.weight_map)) {
    throw new CheckpointError(`${indexPath}: the index must be a JSON object with a "weight_map" object (weight name -> shard file)`);
  }
  const weightMap = index.weight_map;
  const shards = new Map<string, string[]>(); // shard file -> names the index puts there
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string') throw new CheckpointError(`${indexPath}: weight_map[${JSON.stringify(name)}] must be a file name, found ${JSON.stringify(file)}`);
    // Shards live beside the index; a path that leaves the folder is refused.
    if (file === '' || /[/\\]/.test(file) || file === '.' || file === '..') {
      throw new CheckpointError(`${indexPath}: weight_map[${JSON.stringify(name)}] names ${JSON.stringify(file)}, which is not a file name in this folder`);
    }
    if (!shards.has(file)) shards.set(file, []);
    shards.get(file)!.push(name);
  }
  if (shards.size === 0) throw new CheckpointError(`${indexPath}: weight_map lists no weights`);
  for (const [file, names] of shards) {
    if (!folder.has(file)) {
      throw new CheckpointError(`${dir}: shard ${file} is missing (${INDEX_NAME} puts ${names.length} weights there, e.g. ${JSON.stringify(names[0])})`);
    }
  }
  for (const file of shards.keys()) opened.set(file, SafetensorsFile.openIn(folder, file));

  const holder = new Map<string, string>(); // weight name -> the shard that holds it
  for (const [file, shard] of opened) {
    for (const name of shard.names()) {
      const other = holder.get(name);
      if (other !== undefined) throw new CheckpointError(`${dir}: weight ${JSON.stringify(name)} is in two shards, ${other} and ${file}`);
      holder.set(name, file);
      const listed = Object.hasOwn(weightMap, name) ? (weightMap[name] as string) : undefined;
      if (listed === undefined) throw new CheckpointError(`${dir}: shard ${file} holds ${JSON.stringify(name)}, which ${INDEX_NAME} does not list`);
      if (listed !== file) throw new CheckpointError(`${dir}: ${INDEX_NAME} puts ${JSON.stringify(name)} in ${listed}, but it is in ${file}`);
    }
  }
  for (const [file, names] of shards) {
    const lacking = names.filter((name) => !opened.get(file)!.has(name));
    if (lacking.length > 0) {
      throw new CheckpointError(`${dir}: ${INDEX_NAME} puts ${JSON.stringify(lacking[0])}${lacking.length > 1 ? ` (and ${lacking.length - 1} more)` : ''} in ${file}, which does not hold it`);
    }
  }
}

export interface WeightToSave {
  name: string;
  shape: readonly number[];
  /** float32 values, or bfloat16 bits (a Uint16Array: a weight kept in bf16), stored as options.dtype says. */
  data: Float32Array | Uint16Array;
}

export interface SaveOptions {
  /** How the weights are stored; default F32. */
  dtype?: 'F32' | 'BF16' | 'F16';
  /** Largest shard in bytes (stored dtype); default 5 GB, as Transformers. */
  maxShardBytes?: number;
}

export interface SavedCheckpoint {
  /** The weight files written, relative to the folder. */
  files: string[];
  /** Bytes of tensor data over all files (the index's metadata.total_size). */
  totalSize: number;
}

/** JSON with object keys sorted at every level, indent 2, newline at the end: Python's json.dumps(indent=2, sort_keys=True) + "\n". */
function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (!isObject(v)) return v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])]));
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

/**
 * Writes config.json and the weights like save_pretrained (see the file
 * comment). Everything is validated before the first file is written. Stale
 * weight files of an earlier save that this one does not overwrite (other
 * shards, a single file or an index of the other layout) are removed, so the
 * folder cannot mix two saves. config.json is written as given (torch_dtype is
 * not changed to match options.dtype).
 */
export function saveCheckpoint(target: string | FolderSink, config: Record<string, unknown>, weights: readonly WeightToSave[], options: SaveOptions = {}): SavedCheckpoint {
  const sink = asCheckpointError(() => openFolderSink(target));
  const dir = sink.name;
  const dtype = options.dtype ?? 'F32';
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!['F32', 'BF16', 'F16'].includes(dtype)) throw new CheckpointError(`${dir}: saveCheckpoint stores F32, BF16 or F16, not ${JSON.stringify(dtype)}`);
  if (!(maxShardBytes > 0)) throw new CheckpointError(`${dir}: maxShardBytes must be positive, found ${maxShardBytes}`);
  if (!isObject(config)) throw new CheckpointError(`${dir}: the model config must be a JSON object`);
  for (const w of weights) {
    if (!(w?.data instanceof Float32Array || w?.data instanceof Uint16Array)) {
      throw new CheckpointError(`${dir}: weight ${JSON.stringify(w?.name)}: data must be a Float32Array (or a Uint16Array of bfloat16 bits)`);
    }
  }
  // bfloat16 bits are stored as they are for BF16 (the same bits that were loaded), widened exactly otherwise
  const toWrite: TensorToWrite[] = weights.map((w) => ({ name: w.name, dtype, shape: w.shape, data: w.data, ...(w.data instanceof Uint16Array ? { source: 'bfloat16' as const } : {}) }));
  // Names, shapes and lengths, checked as the writer will, before any file is written.
  checkTensorsToWrite(toWrite, dir);
  const sizes = toWrite.map((t) => elementCount(t.shape) * DTYPE_SIZES[dtype]);

  // huggingface_hub split_state_dict_into_shards_factory.
  const shards: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let currentBytes = 0;
  toWrite.forEach((t, i) => {
    if (sizes[i] > maxShardBytes) {
      shards.push([t]);
      return;
    }
    if (current.length > 0 && currentBytes + sizes[i] > maxShardBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += sizes[i];
  });
  if (current.length > 0 || shards.length === 0) shards.push(current);
  const totalSize = sizes.reduce((a, b) => a + b, 0);
  const pad = (n: number): string => String(n).padStart(5, '0');
  const fileNames = shards.length === 1 ? [SINGLE_WEIGHTS_NAME] : shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);

  const writeText = (file: string, text: string) => asCheckpointError(() => sink.writeFile(file, (write) => write(new TextEncoder().encode(text))));
  shards.forEach((shard, i) => writeSafetensorsTo(sink, fileNames[i], shard, { format: 'pt' }));
  if (shards.length > 1) {
    // fromEntries, not assignment, so that a weight named "__proto__" stays a key.
    const weightMap = Object.fromEntries(shards.flatMap((shard, i) => shard.map((t) => [t.name, fileNames[i]])));
    writeText(INDEX_NAME, sortedJson({ metadata: { total_size: totalSize }, weight_map: weightMap }));
  }
  writeText(CONFIG_NAME, sortedJson(config));
  // Only now, with the new save complete, remove weight files of an earlier one.
  const keep = new Set(shards.length > 1 ? [...fileNames, INDEX_NAME] : fileNames);
  for (const existing of sink.list()) {
    const weightFile = SHARD_PATTERN.test(existing) || existing === SINGLE_WEIGHTS_NAME || existing === INDEX_NAME;
    if (weightFile && !keep.has(existing)) sink.remove(existing);
  }
  return { files: fileNames, totalSize };
}
