// A model folder held in memory: file names mapped to their bytes. It runs
// anywhere (no file system), so it is how a browser loads a model: from
// fetched ArrayBuffers, or from the Files of an <input type="file"
// webkitdirectory> or a dropped folder (fromFiles). It is also a FolderSink:
// savePretrained into one keeps the files in memory (bytes() hands each out).

import { IoError, MemoryByteSource, asBytes, describeValue } from './byte-source.ts';
import type { FileProducer } from './node-files.ts';
import type { FolderSink, ModelFolder } from './model-folder.ts';

export type FileContent = Uint8Array | ArrayBuffer | string;

export class MemoryModelFolder implements ModelFolder, FolderSink {
  private readonly files = new Map<string, Uint8Array>();

  /**
   * `files`: name -> content (bytes, used without a copy, or text, stored as
   * UTF-8). Names are plain file names; a folder is flat.
   */
  constructor(
    files: Record<string, FileContent> | Iterable<[string, FileContent]> = {},
    readonly name = '<memory>',
  ) {
    const entries = Symbol.iterator in files ? [...(files as Iterable<[string, FileContent]>)] : Object.entries(files);
    for (const [file, content] of entries) this.set(file, content);
  }

  /**
   * The Files of a picked or dropped folder (a FileList or File[]), read into
   * memory: Files can only be read asynchronously, and the loaders are
   * synchronous, so every file is read first (weights are then held twice
   * while loading: these bytes and the model's float32 storage). Each File is
   * stored under its own name; the folder is named after the folder the
   * Files came from (webkitRelativePath), or `name`.
   */
  static async fromFiles(files: Iterable<File> | ArrayLike<File>, name?: string): Promise<MemoryModelFolder> {
    const list = Array.from(files as ArrayLike<File>);
    list.forEach((file, i) => {
      if (typeof Blob === 'undefined' || !(file instanceof Blob) || typeof (file as { name?: unknown }).name !== 'string') {
        throw new IoError(name ?? '<files>', `files[${i}] must be a File, got ${describeValue(file)}`);
      }
    });
    const top = list.map((f) => ((f as { webkitRelativePath?: string }).webkitRelativePath ?? '').split('/')[0]).find((part) => part !== '');
    const folder = new MemoryModelFolder({}, name ?? top ?? '<files>');
    const contents = await Promise.all(list.map((file) => file.arrayBuffer()));
    list.forEach((file, i) => {
      if (folder.has(file.name)) {
        throw new IoError(folder.name, `two files are named ${JSON.stringify(file.name)} (a model folder is flat: pick the folder that holds config.json, not its parent)`);
      }
      folder.set(file.name, contents[i]);
    });
    return folder;
  }

  /** Adds or replaces one file. */
  set(file: string, content: FileContent): void {
    checkFileName(this.name, file);
    if (typeof content === 'string') this.files.set(file, new TextEncoder().encode(content));
    else if (content instanceof Uint8Array || content instanceof ArrayBuffer) this.files.set(file, asBytes(content));
    else throw new IoError(this.describe(file), `content must be a Uint8Array, an ArrayBuffer or a string, got ${describeValue(content)}`);
  }

  describe(file: string): string {
    return `${this.name}/${file}`;
  }

  list(): string[] {
    return [...this.files.keys()];
  }

  has(file: string): boolean {
    return this.files.has(file);
  }

  /** The bytes of one file (not a copy). */
  bytes(file: string): Uint8Array {
    const bytes = this.files.get(file);
    if (bytes === undefined) {
      const names = this.list();
      const has = names.length === 0 ? 'it is empty' : `it has ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''}`;
      throw new IoError(this.describe(file), `no such file in the folder (${has})`);
    }
    return bytes;
  }

  open(file: string): MemoryByteSource {
    return new MemoryByteSource(this.bytes(file), this.describe(file));
  }

  readText(file: string): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(file));
    } catch (error) {
      if (error instanceof IoError) throw error;
      throw new IoError(this.describe(file), 'is not valid UTF-8 text');
    }
  }

  writeFile(file: string, produce: FileProducer): void {
    checkFileName(this.name, file);
    const chunks: Uint8Array[] = [];
    // Chunks may be views of a buffer the producer reuses: each is copied now.
    produce((bytes) => chunks.push(bytes.slice()));
    const whole = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      whole.set(chunk, at);
      at += chunk.length;
    }
    this.files.set(file, whole);
  }

  remove(file: string): void {
    this.files.delete(file);
  }
}

function checkFileName(folder: string, file: string): void {
  if (typeof file !== 'string' || file === '' || file === '.' || file === '..' || /[/\\]/.test(file)) {
    throw new IoError(folder, `${JSON.stringify(file)} is not a file name (a model folder is flat: no paths)`);
  }
}
