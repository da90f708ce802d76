// A model folder: the files of a Hugging Face model (config.json, the
// safetensors weights or their shards and index, tokenizer.json,
// tokenizer_config.json, chat_template.jinja), wherever they are. Checkpoints
// and tokenizers are read through this interface only, so the same loader
// takes a directory on Node (DirectoryFolder) or bytes in memory
// (MemoryModelFolder: a map of names to bytes, or the Files of a picked or
// dropped folder in a browser). Saving writes through a FolderSink; both
// implementations are also sinks, so a model can be saved to memory and
// loaded back, or handed to a download.

import type { ByteSource } from './byte-source.ts';
import type { FileProducer } from './node-files.ts';

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
