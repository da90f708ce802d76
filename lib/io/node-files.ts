// Files on Node: a ByteSource over a path (positional reads, so a 5 GB shard
// is never read whole) and a whole-file writer that renames a temporary file
// into place. Node's fs comes from the platform at run time
// (lib/platform/host.ts), not from an import, so this module loads in a
// browser too; there, asking for a path is an error that says what to pass
// instead.

import { nodeBuiltin } from '../platform/host.ts';
import { type ByteSource, IoError, checkRange } from './byte-source.ts';

/** The part of node:fs these readers and writers use. */
export interface NodeFs {
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fstatSync(fd: number): { size: number; isFile(): boolean };
  statSync(path: string, options: { throwIfNoEntry: false }): { isFile(): boolean; isDirectory(): boolean } | undefined;
  closeSync(fd: number): void;
  existsSync(path: string): boolean;
  readFileSync(path: string, encoding: 'utf8'): string;
  readdirSync(path: string): string[];
  mkdirSync(path: string, options: { recursive: true }): unknown;
  renameSync(from: string, to: string): void;
  rmSync(path: string, options: { force: true }): void;
}

/** The part of node:path the folders use. */
export interface NodePath {
  join(...parts: string[]): string;
  basename(path: string): string;
}

/** What to pass instead of a path where there is no file system. */
export const BROWSER_HINT =
  'paths are read only on Node; elsewhere pass the bytes: a MemoryModelFolder (new MemoryModelFolder({ "config.json": bytes, ... }), ' +
  'or await MemoryModelFolder.fromFiles(fileList) for a picked or dropped folder) or a MemoryByteSource';

/** Node's fs, or an IoError naming `path` and saying what to pass instead. */
export function nodeFs(path: string): NodeFs {
  const fs = nodeBuiltin<NodeFs>('node:fs');
  if (fs === undefined) throw new IoError(path, `cannot read or write a path here: ${BROWSER_HINT}`);
  return fs;
}

/** Node's path module, or an IoError as nodeFs gives. */
export function nodePath(path: string): NodePath {
  const module = nodeBuiltin<NodePath>('node:path');
  if (module === undefined) throw new IoError(path, `cannot read or write a path here: ${BROWSER_HINT}`);
  return module;
}

/** An error's code (ENOENT, EACCES, ...) or its message, for "cannot ... (why)". */
export function errorCode(error: unknown): string {
  return (error as { code?: string }).code ?? (error as Error).message;
}

/** fs.readSync reads at most 2^31 - 1 bytes per call. */
const MAX_READ_BYTES = 1 << 30;

/** A ByteSource over a file on disk, read with positional reads. */
export class FileByteSource implements ByteSource {
  private fd: number | null;
  readonly size: number;

  private constructor(
    readonly name: string,
    private readonly fs: NodeFs,
    fd: number,
    size: number,
  ) {
    this.fd = fd;
    this.size = size;
  }

  /** Opens `path` for reading; it must be a regular file. */
  static open(path: string): FileByteSource {
    const fs = nodeFs(path);
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (error) {
      throw new IoError(path, `cannot open the file (${errorCode(error)})`);
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new IoError(path, 'not a regular file');
      return new FileByteSource(path, fs, fd, stat.size);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  read(target: Uint8Array, position: number): void {
    if (this.fd === null) throw new IoError(this.name, 'the file is closed');
    checkRange(this, position, target.length);
    let done = 0;
    while (done < target.length) {
      const want = Math.min(target.length - done, MAX_READ_BYTES);
      let got: number;
      try {
        got = this.fs.readSync(this.fd, target, done, want, position + done);
      } catch (error) {
        throw new IoError(this.name, `cannot read bytes [${position}, ${position + target.length}) (${errorCode(error)})`);
      }
      if (got === 0) {
        throw new IoError(this.name, `the file ended at byte ${position + done} while reading bytes [${position}, ${position + target.length}): was it truncated after it was opened?`);
      }
      done += got;
    }
  }

  close(): void {
    if (this.fd !== null) this.fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Hands each chunk of a file's content to `write`; the chunks are written in order. */
export type FileProducer = (write: (bytes: Uint8Array) => void) => void;

/**
 * Writes a whole file from the chunks `produce` emits, into a temporary file
 * renamed into place at the end, so a failed write leaves no half file. The
 * folder must exist. A failure is an IoError "cannot write the file (why)".
 */
export function writeFileAtomically(path: string, produce: FileProducer): void {
  const fs = nodeFs(path);
  const pid = nodeBuiltin<{ pid: number }>('node:process')?.pid ?? 0;
  const temporary = `${path}.tmp-${pid}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(temporary, 'w');
    const descriptor = fd;
    produce((bytes) => {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(descriptor, bytes, done, bytes.length - done);
    });
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temporary, path);
  } catch (error) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    // A system error (it has a code) is the file's; anything else (the producer's own) passes through.
    if (typeof (error as { code?: unknown }).code !== 'string') throw error;
    throw new IoError(path, `cannot write the file (${errorCode(error)})`);
  }
}
