// A model folder: the files of a Hugging Face model (config.json, the
// safetensors weights or their shards and index, tokenizer.json,
// tokenizer_config.json, chat_template.jinja), wherever they are. Checkpoints
// and tokenizers are read through this interface only, so the same loader
// takes a directory on Node (DirectoryFolder) or bytes in memory
// (MemoryModelFolder: a map of names to bytes, or the Files of a picked or
// dropped folder in a browser). Saving writes through a FolderSink; both
// implementations are also sinks, so a model can be saved to memory and
// loaded back, or handed to a download.

import { type ByteSource, IoError, describeValue } from './byte-source.ts';
import type { FileProducer } from './node-files.ts';
import { DirectoryFolder } from './directory-folder.ts';

/** The files of one model, flat (no sub-folders), read by name. */
export interface ModelFolder {
  /** How errors name the folder: its path, or a label. */
  readonly name: string;
  /** How errors name one file of it (a path for a directory). */
  describe(file: string): string;
  /** The file names, in no particular order. */
  list(): string[];
  has(file: string): boolean;
  /** One file as a ByteSource (close it when done); an IoError naming the file if it cannot be opened. */
  open(file: string): ByteSource;
  /** One file as UTF-8 text. */
  readText(file: string): string;
}

/** Where a save writes its files. */
export interface FolderSink {
  readonly name: string;
  describe(file: string): string;
  /** The files there now (a save removes stale weight files of an earlier one). */
  list(): string[];
  /** Writes a whole file from the chunks `produce` emits; it appears complete or not at all. */
  writeFile(file: string, produce: FileProducer): void;
  remove(file: string): void;
}

function isModelFolder(value: unknown): value is ModelFolder {
  const v = value as Partial<ModelFolder> | null;
  return typeof v === 'object' && v !== null && typeof v.open === 'function' && typeof v.list === 'function' && typeof v.readText === 'function';
}

function isFolderSink(value: unknown): value is FolderSink {
  const v = value as Partial<FolderSink> | null;
  return typeof v === 'object' && v !== null && typeof v.writeFile === 'function' && typeof v.list === 'function' && typeof v.remove === 'function';
}

/**
 * A folder to read: a path (a directory on Node; elsewhere an error that
 * says what to pass instead) or a ModelFolder, returned as it is.
 */
export function openModelFolder(source: string | ModelFolder): ModelFolder {
  if (typeof source === 'string') return DirectoryFolder.open(source);
  if (isModelFolder(source)) return source;
  throw new IoError('<model folder>', `expected a path or a ModelFolder (a DirectoryFolder or MemoryModelFolder), got ${describeValue(source)}`);
}

/** A folder to write: a path (a directory on Node, created when the first file is written) or a FolderSink. */
export function openFolderSink(target: string | FolderSink): FolderSink {
  if (typeof target === 'string') return DirectoryFolder.forWriting(target);
  if (isFolderSink(target)) return target;
  throw new IoError('<folder sink>', `expected a path or a FolderSink (a DirectoryFolder or MemoryModelFolder), got ${describeValue(target)}`);
}
