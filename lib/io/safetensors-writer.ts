// Writing safetensors: the header JSON (compact, "__metadata__" first, then
// the tensors in the order given with consecutive data_offsets), padded with
// spaces to a multiple of 8 bytes as the reference implementation does, then
// each tensor's little-endian bytes. writeSafetensors streams the tensors to
// disk in bounded chunks (no second copy of a checkpoint in memory) and
// renames a temporary file into place, so a failed write leaves no half file;
// writeSafetensorsTo does the same into any FolderSink (a directory, memory).
//
// Accepted data per dtype (anything else is an error naming the tensor):
//   F64          Float64Array, or Float32Array (widened exactly)
//   F32          Float32Array, or Float64Array (rounded to nearest)
//   F16, BF16    Float32Array (rounded to nearest even), or Uint16Array (the raw 16-bit patterns)
//   I64          BigInt64Array, or Int32Array (widened)
//   I32          Int32Array, or BigInt64Array (each element must fit int32)
//   any dtype    Uint8Array: the raw little-endian bytes, dtype size x elements long
//   F64, F32, F16, BF16 with `source: 'bfloat16'`: a Uint16Array of bfloat16
//                bits (a weight kept in bf16), stored as is for BF16, widened
//                exactly chunk by chunk for F64/F32, rounded from there for F16

import { bf16ToF32, f32ToBf16, f32ToF16 } from './float-formats.ts';
import { IoError } from './byte-source.ts';
import { type FileProducer, writeFileAtomically } from './node-files.ts';
import type { FolderSink } from './model-folder.ts';
import {
  type SafetensorsDType,
  DTYPE_SIZES,
  MAX_HEADER_BYTES,
  METADATA_KEY,
  SafetensorsError,
  elementCount,
  isDType,
  isValidShape,
} from './safetensors-header.ts';

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array;

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: TensorData;
  /** 'bfloat16': `data` is a Uint16Array of bfloat16 bits, whatever `dtype` stores (F64, F32, F16 or BF16). */
  source?: 'bfloat16';
}

/** Elements converted per step. */
const CHUNK_ELEMENTS = 1 << 22;

interface Planned {
  tensor: TensorToWrite;
  begin: number;
  end: number;
}

interface Layout {
  /** The 8-byte length and the padded JSON. */
  head: Uint8Array;
  tensors: Planned[];
  /** Bytes in the whole file. */
  totalBytes: number;
}

function dataKind(data: unknown): string {
  if (typeof data !== 'object' || data === null) return typeof data;
  return (data as object).constructor?.name ?? 'object';
}

/** Validates every tensor and the metadata, and lays out the file; nothing is converted yet. */
function plan(tensors: readonly TensorToWrite[], metadata: Readonly<Record<string, string>> | undefined, target: string): Layout {
  if (!Array.isArray(tensors)) throw new SafetensorsError(target, `tensors must be an array of {name, dtype, shape, data}, found ${dataKind(tensors)}`);
  const seen = new Set<string>();
  const planned: Planned[] = [];
  const entries: string[] = [];
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new SafetensorsError(target, `metadata must be a map of string to string, found ${dataKind(metadata)}`);
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new SafetensorsError(target, `metadata must be a map of string to string, but key ${JSON.stringify(key)} holds ${typeof value}`);
    }
    if (Object.keys(metadata).length > 0) entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  tensors.forEach((tensor, index) => {
    const name: unknown = tensor?.name;
    if (typeof name !== 'string') throw new SafetensorsError(target, `tensor ${index} has no string name (found ${dataKind(name)})`);
    const fail = (problem: string): never => {
      throw new SafetensorsError(target, problem, name);
    };
    if (name === METADATA_KEY) fail(`the name ${METADATA_KEY} is reserved for metadata`);
    if (seen.has(name)) fail('appears twice; names must be unique');
    seen.add(name);
    const dtype: unknown = tensor.dtype;
    const shape: unknown = tensor.shape;
    if (!isDType(dtype)) return fail(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(', ')})`);
    if (!isValidShape(shape)) return fail(`shape must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
    const count = elementCount(shape);
    const byteLength = count * DTYPE_SIZES[dtype];
    if (!Number.isSafeInteger(byteLength)) return fail(`shape ${JSON.stringify(shape)} is too large to store`);
    checkData(tensor, count, byteLength, fail);
    planned.push({ tensor, begin: offset, end: offset + byteLength });
    entries.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + byteLength] })}`);
    offset += byteLength;
  });
  // Built by hand rather than JSON.stringify({...}) so the keys keep their
  // order (an object would move names like "0" first) and "__proto__" stays a key.
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) throw new SafetensorsError(target, `the header would be ${headerLength} bytes, over the format's limit of ${MAX_HEADER_BYTES}`);
  const head = new Uint8Array(8 + headerLength).fill(0x20); // spaces: the reference implementation's padding
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  return { head, tensors: planned, totalBytes: head.length + offset };
}

/** Throws the SafetensorsError writeSafetensors would throw for these tensors and metadata; writes nothing. */
export function checkTensorsToWrite(tensors: readonly TensorToWrite[], target: string, metadata?: Readonly<Record<string, string>>): void {
  plan(tensors, metadata, target);
}

function checkData(tensor: TensorToWrite, count: number, byteLength: number, fail: (problem: string) => never): void {
  const { dtype, data } = tensor;
  if (tensor.source !== undefined) {
    if (tensor.source !== 'bfloat16') fail(`source must be 'bfloat16' when given, found ${JSON.stringify(tensor.source)}`);
    if (!['F64', 'F32', 'F16', 'BF16'].includes(dtype)) fail(`bfloat16 data can be stored as F64, F32, F16 or BF16, not ${dtype}`);
    if (!(data instanceof Uint16Array)) fail(`bfloat16 data must be a Uint16Array of bfloat16 bits, found ${dataKind(data)}`);
    if (data.length !== count) fail(`shape ${JSON.stringify(tensor.shape)} has ${count} elements, the data holds ${data.length}`);
    return;
  }
  if (data instanceof Uint8Array) {
    if (data.length !== byteLength) fail(`${dtype} ${JSON.stringify(tensor.shape)} needs ${byteLength} raw bytes, the Uint8Array holds ${data.length}`);
    return;
  }
  const accepted: Partial<Record<SafetensorsDType, string[]>> = {
    F64: ['Float64Array', 'Float32Array'],
    F32: ['Float32Array', 'Float64Array'],
    F16: ['Float32Array', 'Uint16Array'],
    BF16: ['Float32Array', 'Uint16Array'],
    I64: ['BigInt64Array', 'Int32Array'],
    I32: ['Int32Array', 'BigInt64Array'],
  };
  const kinds = accepted[dtype] ?? [];
  const ok =
    (data instanceof Float64Array && kinds.includes('Float64Array')) ||
    (data instanceof Float32Array && kinds.includes('Float32Array')) ||
    (data instanceof Uint16Array && kinds.includes('Uint16Array')) ||
    (data instanceof BigInt64Array && kinds.includes('BigInt64Array')) ||
    (data instanceof Int32Array && kinds.includes('Int32Array'));
  if (!ok) fail(`${dtype} data must be ${[...kinds, 'Uint8Array (raw bytes)'].join(' or ')}, found ${dataKind(data)}`);
  if (data.length !== count) fail(`shape ${JSON.stringify(tensor.shape)} has ${count} elements, the data holds ${data.length}`);
  if (dtype === 'I32' && data instanceof BigInt64Array) {
    const bad = data.findIndex((v) => v < -2147483648n || v > 2147483647n);
    if (bad >= 0) fail(`element ${bad} is ${data[bad]}, which does not fit I32`);
  }
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Hands the tensor's stored bytes to `emit` in chunks, converting only what needs converting. */
function encode(tensor: TensorToWrite, emit: (bytes: Uint8Array) => void): void {
  const { dtype, data } = tensor;
  if (tensor.source === 'bfloat16' && dtype !== 'BF16') {
    // bfloat16 bits to a wider or other format: widen each chunk exactly, then store it as the dtype asks
    for (let first = 0; first < data.length; first += CHUNK_ELEMENTS) {
      const widened = bf16ToF32(data.subarray(first, Math.min(data.length, first + CHUNK_ELEMENTS)) as Uint16Array);
      emit(bytesOf(dtype === 'F32' ? widened : convertChunk(dtype, widened)));
    }
    return;
  }
  const sameLayout =
    data instanceof Uint8Array ||
    (dtype === 'F64' && data instanceof Float64Array) ||
    (dtype === 'F32' && data instanceof Float32Array) ||
    ((dtype === 'F16' || dtype === 'BF16') && data instanceof Uint16Array) ||
    (dtype === 'I64' && data instanceof BigInt64Array) ||
    (dtype === 'I32' && data instanceof Int32Array);
  if (sameLayout) {
    emit(bytesOf(data));
    return;
  }
  for (let first = 0; first < data.length; first += CHUNK_ELEMENTS) {
    const last = Math.min(data.length, first + CHUNK_ELEMENTS);
    emit(bytesOf(convertChunk(dtype, data.subarray(first, last))));
  }
}

function convertChunk(dtype: SafetensorsDType, chunk: TensorData): ArrayBufferView {
  switch (dtype) {
    case 'F64':
      return Float64Array.from(chunk as Float32Array);
    case 'F32':
      return Float32Array.from(chunk as Float64Array);
    case 'BF16':
      return f32ToBf16(chunk as Float32Array);
    case 'F16':
      return f32ToF16(chunk as Float32Array);
    case 'I64':
      return BigInt64Array.from(chunk as Int32Array, (v) => BigInt(v));
    case 'I32':
      return Int32Array.from(chunk as BigInt64Array, (v) => Number(v));
    default:
      throw new Error(`unreachable: no conversion to ${dtype}`); // checkData admits only raw bytes for other dtypes
  }
}

/** The whole file in memory (for tests, fuzzing and small files). */
export function serializeSafetensors(tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const layout = plan(tensors, metadata, '<serialize>');
  const out = new Uint8Array(layout.totalBytes);
  out.set(layout.head, 0);
  for (const { tensor, begin } of layout.tensors) {
    let at = layout.head.length + begin;
    encode(tensor, (bytes) => {
      out.set(bytes, at);
      at += bytes.length;
    });
  }
  return out;
}

/** The file's bytes, chunk by chunk: the header, then each tensor in bounded chunks. */
function producer(layout: Layout): FileProducer {
  return (write) => {
    write(layout.head);
    for (const { tensor } of layout.tensors) encode(tensor, write);
  };
}

/** Runs a write, turning the file's IoError into the SafetensorsError with the same message. */
function writing(run: () => void): void {
  try {
    run();
  } catch (error) {
    if (error instanceof IoError) throw new SafetensorsError(error.file, error.problem);
    throw error;
  }
}

/**
 * Writes a safetensors file on disk (Node; validated before anything touches
 * the disk), streaming each tensor in bounded chunks. The folder must exist.
 * Returns the file's size in bytes.
 */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): number {
  const layout = plan(tensors, metadata, path);
  writing(() => writeFileAtomically(path, producer(layout)));
  return layout.totalBytes;
}

/** writeSafetensors into file `file` of a FolderSink (a directory, a MemoryModelFolder). Returns the file's size in bytes. */
export function writeSafetensorsTo(sink: FolderSink, file: string, tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): number {
  const layout = plan(tensors, metadata, sink.describe(file));
  writing(() => sink.writeFile(file, producer(layout)));
  return layout.totalBytes;
}
