// Reading safetensors files without loading them: opening reads and validates
// only the header; each tensor's bytes are read on demand from the file's
// ByteSource (byte-source.ts: positional reads of a file on disk, or bytes in
// memory; real checkpoints are 5 GB shards), and conversions to float32 run
// in bounded chunks straight into the result, so reading a bf16 tensor never
// holds its raw bytes and its float copy whole at the same time.
//
// This module is the one to import: it re-exports the header types and the
// writer (safetensors-header.ts, safetensors-writer.ts).

import { bf16ToF32, f16ToF32, f32ToBf16 } from './float-formats.ts';
import { type ByteSource, IoError, MemoryByteSource } from './byte-source.ts';
import { FileByteSource } from './node-files.ts';
import type { ModelFolder } from './model-folder.ts';
import {
  type SafetensorsHeader,
  type TensorInfo,
  DTYPE_SIZES,
  SafetensorsError,
  closestNames,
  parseHeaderJson,
  parseHeaderLength,
} from './safetensors-header.ts';

export * from './safetensors-header.ts';
export * from './safetensors-writer.ts';

/** Bytes converted per step when a tensor is widened or narrowed on the way in. */
const CHUNK_BYTES = 1 << 24;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Runs `open`, turning a byte source's IoError into the SafetensorsError with the same message. */
function asSafetensorsError<T>(open: () => T): T {
  try {
    return open();
  } catch (error) {
    if (error instanceof IoError) throw new SafetensorsError(error.file, error.problem);
    throw error;
  }
}

export class SafetensorsFile {
  /** The file path, or the name of the ByteSource it was read from. */
  readonly path: string;
  readonly header: SafetensorsHeader;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly source: ByteSource;
  private readonly byName: Map<string, TensorInfo>;

  private constructor(path: string, source: ByteSource, header: SafetensorsHeader) {
    this.path = path;
    this.source = source;
    this.header = header;
    this.metadata = header.metadata;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /**
   * Reads and validates the header of a safetensors file in `source`; no
   * tensor data is read. The file takes the source over: close() closes it,
   * and so does a failure here.
   */
  static fromSource(source: ByteSource): SafetensorsFile {
    const name = source.name;
    try {
      if (!LITTLE_ENDIAN) throw new SafetensorsError(name, 'this reader needs a little-endian host (safetensors data is little-endian)');
      return asSafetensorsError(() => {
        const prefix = new Uint8Array(8);
        if (source.size >= 8) source.read(prefix, 0);
        const headerLength = parseHeaderLength(prefix, source.size, name);
        const headerBytes = new Uint8Array(headerLength);
        source.read(headerBytes, 8);
        return new SafetensorsFile(name, source, parseHeaderJson(headerBytes, source.size - 8 - headerLength, name));
      });
    } catch (error) {
      source.close();
      throw error;
    }
  }

  /** Opens a file on disk (Node) and validates its header; no tensor data is read. Call close() when done. */
  static open(path: string): SafetensorsFile {
    return SafetensorsFile.fromSource(asSafetensorsError(() => FileByteSource.open(path)));
  }

  /** Opens one file of a model folder (a shard, a golden case), named in errors as the folder names it. */
  static openIn(folder: ModelFolder, file: string): SafetensorsFile {
    return SafetensorsFile.fromSource(asSafetensorsError(() => folder.open(file)));
  }

  /** A reader over a whole file already in memory (validated the same way). The bytes are not copied. */
  static fromBytes(bytes: Uint8Array | ArrayBuffer, label = '<memory>'): SafetensorsFile {
    return SafetensorsFile.fromSource(asSafetensorsError(() => new MemoryByteSource(bytes, label)));
  }

  /** Tensor names in header order. */
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** dtype, shape, offsets and byte length of one tensor; an unknown name is an error listing similar names. */
  info(name: string): TensorInfo {
    const info = this.byName.get(name);
    if (info === undefined) {
      throw new SafetensorsError(this.path, `no such tensor; the file has ${this.byName.size}${closestNames(name, this.names())}`, name);
    }
    return info;
  }

  /** The tensor's raw little-endian bytes, in a fresh 8-byte-aligned buffer. */
  readBytes(name: string): Uint8Array {
    const info = this.info(name);
    const bytes = this.allocate(info, (n) => new Uint8Array(n), info.byteLength);
    this.read(bytes, this.header.dataStart + info.begin, name);
    return bytes;
  }

  /** The array a read fills: `into` when given (it must hold the tensor's elements), else a new one. */
  private destination<A extends Float32Array | Uint16Array>(name: string, info: TensorInfo, into: A | undefined, make: (n: number) => A): A {
    const length = info.byteLength / DTYPE_SIZES[info.dtype];
    if (into !== undefined && into.length !== length) {
      throw new SafetensorsError(this.path, `has ${length} elements; the destination holds ${into.length}`, name);
    }
    return into ?? this.allocate(info, make);
  }

  /**
   * As float32: F32 as stored, F16 and BF16 widened exactly, F64 rounded to
   * nearest. With `into` (of the tensor's length), the values are written
   * there, so a loader can fill a model's own storage without a second copy.
   */
  readFloat32(name: string, into?: Float32Array): Float32Array {
    const info = this.info(name);
    const out = this.destination(name, info, into, (n) => new Float32Array(n));
    switch (info.dtype) {
      case 'F32':
        this.read(new Uint8Array(out.buffer, out.byteOffset, out.byteLength), this.header.dataStart + info.begin, name);
        break;
      case 'BF16':
        this.readChunks(info, (chunk, first, count) => bf16ToF32(new Uint16Array(chunk, 0, count), out.subarray(first, first + count)));
        break;
      case 'F16':
        this.readChunks(info, (chunk, first, count) => f16ToF32(new Uint16Array(chunk, 0, count), out.subarray(first, first + count)));
        break;
      case 'F64':
        // TypedArray.set converts each double to the nearest float32 (ties to even).
        this.readChunks(info, (chunk, first, count) => out.set(new Float64Array(chunk, 0, count), first));
        break;
      default:
        throw new SafetensorsError(this.path, `is ${info.dtype}; readFloat32 reads F32, F16, BF16 and F64 tensors (use readInt32 or readBytes)`, name);
    }
    return out;
  }

  /**
   * As bfloat16 bits: BF16 as stored (the bytes read straight into the
   * destination, no conversion), F32 and F16 rounded to nearest, ties to even
   * (F16 through its exact float32 value). F64 is refused: rounding it through
   * float32 could round twice. With `into` (of the tensor's length), the bits
   * are written there, so a loader keeps a checkpoint's bf16 weights as they
   * are stored, in the model's own storage.
   */
  readBfloat16(name: string, into?: Uint16Array): Uint16Array {
    const info = this.info(name);
    const out = this.destination(name, info, into, (n) => new Uint16Array(n));
    switch (info.dtype) {
      case 'BF16':
        this.read(new Uint8Array(out.buffer, out.byteOffset, out.byteLength), this.header.dataStart + info.begin, name);
        break;
      case 'F32':
        this.readChunks(info, (chunk, first, count) => f32ToBf16(new Float32Array(chunk, 0, count), out.subarray(first, first + count)));
        break;
      case 'F16':
        this.readChunks(info, (chunk, first, count) => f32ToBf16(f16ToF32(new Uint16Array(chunk, 0, count)), out.subarray(first, first + count)));
        break;
      default:
        throw new SafetensorsError(this.path, `is ${info.dtype}; readBfloat16 reads BF16, F32 and F16 tensors (load F64 weights as float32)`, name);
    }
    return out;
  }

  /** As float64: F64 as stored; F32, F16 and BF16 widened exactly. */
  readFloat64(name: string): Float64Array {
    const info = this.info(name);
    const out = this.allocate(info, (n) => new Float64Array(n));
    switch (info.dtype) {
      case 'F64':
        this.read(new Uint8Array(out.buffer), this.header.dataStart + info.begin, name);
        break;
      case 'F32':
        this.readChunks(info, (chunk, first, count) => out.set(new Float32Array(chunk, 0, count), first));
        break;
      case 'BF16':
        this.readChunks(info, (chunk, first, count) => out.set(bf16ToF32(new Uint16Array(chunk, 0, count)), first));
        break;
      case 'F16':
        this.readChunks(info, (chunk, first, count) => out.set(f16ToF32(new Uint16Array(chunk, 0, count)), first));
        break;
      default:
        throw new SafetensorsError(this.path, `is ${info.dtype}; readFloat64 reads F64, F32, F16 and BF16 tensors (use readInt32 or readBytes)`, name);
    }
    return out;
  }

  /**
   * As int32: I32 as stored; I64, U64 and U32 range-checked (an element
   * outside int32 is an error naming the tensor, the element and its value);
   * I16, U16, I8, U8 and BOOL widened.
   */
  readInt32(name: string): Int32Array {
    const info = this.info(name);
    const out = this.allocate(info, (n) => new Int32Array(n));
    const outside = (index: number, value: number | bigint): never => {
      throw new SafetensorsError(this.path, `element ${index} is ${value}, outside the int32 range readInt32 returns`, name);
    };
    const checkedBig = (values: BigInt64Array | BigUint64Array, first: number): void => {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v < -2147483648n || v > 2147483647n) outside(first + i, v);
        out[first + i] = Number(v);
      }
    };
    switch (info.dtype) {
      case 'I32':
        this.read(new Uint8Array(out.buffer), this.header.dataStart + info.begin, name);
        break;
      case 'I64':
        this.readChunks(info, (chunk, first, count) => checkedBig(new BigInt64Array(chunk, 0, count), first));
        break;
      case 'U64':
        this.readChunks(info, (chunk, first, count) => checkedBig(new BigUint64Array(chunk, 0, count), first));
        break;
      case 'U32':
        this.readChunks(info, (chunk, first, count) => {
          const values = new Uint32Array(chunk, 0, count);
          for (let i = 0; i < count; i++) {
            if (values[i] > 2147483647) outside(first + i, values[i]);
            out[first + i] = values[i];
          }
        });
        break;
      case 'I16':
        this.readChunks(info, (chunk, first, count) => out.set(new Int16Array(chunk, 0, count), first));
        break;
      case 'U16':
        this.readChunks(info, (chunk, first, count) => out.set(new Uint16Array(chunk, 0, count), first));
        break;
      case 'I8':
        this.readChunks(info, (chunk, first, count) => out.set(new Int8Array(chunk, 0, count), first));
        break;
      case 'U8':
      case 'BOOL':
        this.readChunks(info, (chunk, first, count) => out.set(new Uint8Array(chunk, 0, count), first));
        break;
      default:
        throw new SafetensorsError(this.path, `is ${info.dtype}; readInt32 reads integer and BOOL tensors (use readFloat32 or readFloat64)`, name);
    }
    return out;
  }

  /** Releases the source (a file descriptor, the bytes); later reads are errors. Closing twice is harmless. */
  close(): void {
    this.source.close();
  }

  /** Reads through the source; a failure is a SafetensorsError naming the file and the tensor. */
  private read(target: Uint8Array, position: number, tensor: string): void {
    try {
      this.source.read(target, position);
    } catch (error) {
      if (error instanceof IoError) throw new SafetensorsError(error.file, error.problem, tensor);
      throw error;
    }
  }

  /**
   * Reads the tensor in chunks of whole elements into one reusable scratch
   * buffer (bounded memory whatever the tensor's size) and hands each chunk to
   * `step(scratch, firstElement, elementCount)`; the chunk starts at byte 0 of scratch.
   */
  private readChunks(info: TensorInfo, step: (scratch: ArrayBuffer, firstElement: number, count: number) => void): void {
    const size = DTYPE_SIZES[info.dtype];
    const total = info.byteLength / size;
    const chunkElements = Math.floor(CHUNK_BYTES / size);
    const scratch = new Uint8Array(Math.min(info.byteLength, chunkElements * size));
    for (let first = 0; first < total; first += chunkElements) {
      const count = Math.min(chunkElements, total - first);
      this.read(scratch.subarray(0, count * size), this.header.dataStart + info.begin + first * size, info.name);
      step(scratch.buffer, first, count);
    }
  }

  /** A typed array of the tensor's element count (or `length`), with an error naming the tensor if it is too large. */
  private allocate<T>(info: TensorInfo, make: (n: number) => T, length = info.byteLength / DTYPE_SIZES[info.dtype]): T {
    try {
      return make(length);
    } catch (error) {
      throw new SafetensorsError(this.path, `cannot allocate ${length} elements (${(error as Error).message})`, info.name);
    }
  }
}
