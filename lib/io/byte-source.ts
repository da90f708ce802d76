// Where a file's bytes come from. Safetensors files and model folders are
// read through this one small interface, so the same reader loads a
// checkpoint from a path on Node (node-files.ts: positional reads, nothing
// held beyond what is asked for) or from bytes already in memory (an
// ArrayBuffer, a Uint8Array, a Blob or File read first; this file).
//
// read() fills a buffer the caller owns rather than returning a new one: a
// float32 weight is read straight into the model's own storage, and a BF16
// one through one reusable 16 MB scratch buffer, so loading never holds a
// second copy of a weight.

/** The bytes of one file, read at any position. */
export interface ByteSource {
  /** How errors name the source: a path, or a label such as "<memory>/model.safetensors". */
  readonly name: string;
  /** Bytes in the source. */
  readonly size: number;
  /** Fills `target` with the bytes at `position`..; an IoError naming the source if they are not all there. */
  read(target: Uint8Array, position: number): void;
  /** Releases the source (a file descriptor, a reference to the bytes); later reads are errors. Closing twice is harmless. */
  close(): void;
}

/**
 * A file that cannot be opened, read or written; the message names the file.
 * Format readers (safetensors, checkpoints, tokenizers) rethrow it as their
 * own error with the same message, so callers catch one error class per layer.
 */
export class IoError extends Error {
  override name = 'IoError';

  constructor(
    /** The path or label of the file (or folder) the problem is in. */
    readonly file: string,
    /** What went wrong, without the file's name. */
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** The bytes of a Uint8Array (not copied) or of a whole ArrayBuffer. */
export function asBytes(data: Uint8Array | ArrayBuffer): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** A ByteSource over bytes in memory. The bytes are not copied: do not change them while the source is open. */
export class MemoryByteSource implements ByteSource {
  private bytes: Uint8Array | null;
  readonly size: number;

  constructor(
    data: Uint8Array | ArrayBuffer,
    readonly name = '<memory>',
  ) {
    if (!(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) {
      throw new IoError(name, `expected a Uint8Array or an ArrayBuffer, got ${describeValue(data)}`);
    }
    this.bytes = asBytes(data);
    this.size = this.bytes.length;
  }

  read(target: Uint8Array, position: number): void {
    if (this.bytes === null) throw new IoError(this.name, 'the source is closed');
    checkRange(this, position, target.length);
    target.set(this.bytes.subarray(position, position + target.length));
  }

  close(): void {
    this.bytes = null;
  }
}

/** The error for a read of bytes [position, position + length) that do not all lie in the source. */
export function checkRange(source: { name: string; size: number }, position: number, length: number): void {
  if (!Number.isSafeInteger(position) || position < 0 || position + length > source.size) {
    throw new IoError(source.name, `cannot read bytes [${position}, ${position + length}): the source holds ${source.size} bytes`);
  }
}

/**
 * A Blob or File read whole into memory, as a ByteSource (named by the File's
 * name). A Blob can only be read asynchronously, while the readers here are
 * synchronous (the tensor library is), so the bytes are read first: a
 * checkpoint read this way is held in memory as well as in the model.
 */
export async function byteSourceFromBlob(blob: Blob, name?: string): Promise<MemoryByteSource> {
  const label = name ?? ((blob as { name?: unknown }).name as string | undefined) ?? '<blob>';
  return new MemoryByteSource(await blob.arrayBuffer(), label);
}

/** Every byte of a source (for small files: JSON, text). */
export function readAllBytes(source: ByteSource): Uint8Array {
  const bytes = new Uint8Array(source.size);
  source.read(bytes, 0);
  return bytes;
}

/** A short description of an unexpected value for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'object';
}
