// The safetensors header: parsing and complete validation, shared by the file
// reader, the in-memory reader and the fuzz tests.
//
// Layout (https://github.com/huggingface/safetensors): 8 bytes little-endian
// u64 N, N bytes of UTF-8 JSON, then the data section. The JSON maps each
// tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative
// to the start of the data section) and may hold "__metadata__", a map of
// string to string. The rules below are the reference implementation's
// (safetensors/src/tensor.rs): the header is at most 100 MB, every byte count
// matches dtype x shape, and the entries tile the data section exactly: no
// overlaps, no holes, nothing after the last tensor.
//
// Everything is checked before any tensor byte is read, and the header length
// is checked against the file size before anything is allocated or decoded,
// so a corrupt or hostile file costs at most one bounded read.

/** Bytes per element of every dtype the format defines that we can read as raw bytes. */
export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

export type SafetensorsDType = keyof typeof DTYPE_SIZES;

/** The reference implementation's limit on N (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The reserved header key that holds string metadata rather than a tensor. */
export const METADATA_KEY = '__metadata__';

/** A malformed file or a bad request; the message names the file and, where relevant, the tensor. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  /** The file (or the label of an in-memory buffer) the problem is in. */
  readonly source: string;
  /** The tensor the problem is about, when there is one. */
  readonly tensor: string | undefined;

  constructor(source: string, problem: string, tensor?: string) {
    super(`${source}: ${tensor === undefined ? '' : `tensor ${JSON.stringify(tensor)}: `}${problem}`);
    this.source = source;
    this.tensor = tensor;
  }
}

/** One tensor as the header describes it; begin/end are byte offsets into the data section. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
  /** end - begin = dtype size x number of elements. */
  readonly byteLength: number;
}

export interface SafetensorsHeader {
  /** N: the JSON's length in bytes, padding included. */
  readonly headerLength: number;
  /** Where the data section starts in the file: 8 + N. */
  readonly dataStart: number;
  /** Bytes in the data section: file size - 8 - N. */
  readonly dataLength: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** In header (JSON key) order. */
  readonly tensors: readonly TensorInfo[];
}

export function isDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZES, value);
}

/** Elements in a shape; 1 for a scalar ([]). */
export function elementCount(shape: readonly number[]): number {
  if (shape.includes(0)) return 0; // [huge, huge, 0] is empty, not Infinity * 0 = NaN
  return shape.reduce((n, d) => n * d, 1);
}

/** A shape is an array of non-negative integers (exactly representable: below 2^53). */
export function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/**
 * For "no such name" errors: " tensors, e.g. a, b, c" with up to five names,
 * those sharing the longest prefix with `wanted` first (so a typo in a layer
 * name lists that layer's tensors).
 */
export function closestNames(wanted: string, names: readonly string[]): string {
  if (names.length === 0) return ' tensors';
  const shared = (name: string): number => {
    let i = 0;
    while (i < name.length && i < wanted.length && name[i] === wanted[i]) i++;
    return i;
  };
  const best = names
    .map((name, index) => ({ name, score: shared(name), index }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, 5)
    .map((c) => JSON.stringify(c.name));
  return ` tensors, e.g. ${best.join(', ')}${names.length > 5 ? ', ...' : ''}`;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * N from the first 8 bytes, checked against the total size: the file must
 * hold the 8 bytes, N must be at most 100 MB and fit in what follows.
 */
export function parseHeaderLength(prefix: Uint8Array, totalSize: number, source: string): number {
  if (totalSize < 8 || prefix.length < 8) {
    throw new SafetensorsError(source, `the file is ${totalSize} bytes, shorter than the 8-byte header length that starts every safetensors file`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(source, `header length ${n} is absurd: the format allows at most ${MAX_HEADER_BYTES} bytes (is this a safetensors file?)`);
  }
  const headerLength = Number(n);
  if (headerLength > totalSize - 8) {
    throw new SafetensorsError(source, `header length ${headerLength} runs past the end of the file (${totalSize} bytes, so at most ${totalSize - 8}): the file is truncated or not safetensors`);
  }
  return headerLength;
}

/**
 * Decodes and validates the N header bytes of a file whose data section is
 * `dataLength` bytes long. Throws SafetensorsError on the first problem.
 */
export function parseHeaderJson(headerBytes: Uint8Array, dataLength: number, source: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(source, 'the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError(source, `the header is not valid JSON (${(error as Error).message}); it starts ${describe(text.slice(0, 40))}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsError(source, `the header must be a JSON object, found ${describe(json)}`);
  }

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(entry, source);
      continue;
    }
    tensors.push(parseEntry(name, entry, dataLength, source));
  }
  checkTiling(tensors, dataLength, source);
  const headerLength = headerBytes.length;
  return { headerLength, dataStart: 8 + headerLength, dataLength, metadata, tensors };
}

function parseMetadata(entry: unknown, source: string): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new SafetensorsError(source, `${METADATA_KEY} must be a map of string to string, found ${describe(entry)}`);
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') {
      throw new SafetensorsError(source, `${METADATA_KEY} must be a map of string to string, but key ${JSON.stringify(key)} holds ${describe(value)}`);
    }
  }
  // fromEntries defines own properties, so a key like "__proto__" stays a plain key.
  return Object.fromEntries(Object.entries(entry as Record<string, string>));
}

function parseEntry(name: string, entry: unknown, dataLength: number, source: string): TensorInfo {
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem, name);
  };
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return fail(`the header entry must be an object {dtype, shape, data_offsets}, found ${describe(entry)}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isDType(dtype)) {
    return fail(`unknown dtype ${describe(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(', ')})`);
  }
  if (!isValidShape(shape)) {
    return fail(`shape must be an array of non-negative integers, found ${describe(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    return fail(`data_offsets must be two non-negative integers [begin, end], found ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) return fail(`data_offsets [${begin}, ${end}] end before they begin`);
  const byteLength = end - begin;
  const expected = elementCount(shape) * DTYPE_SIZES[dtype];
  if (expected !== byteLength) {
    return fail(`${dtype} ${describe(shape)} needs ${expected} bytes, but data_offsets [${begin}, ${end}] hold ${byteLength}`);
  }
  if (end > dataLength) {
    return fail(`data_offsets [${begin}, ${end}] lie outside the data section (${dataLength} bytes): the file is truncated or the header is wrong`);
  }
  return { name, dtype, shape, begin, end, byteLength };
}

/** The entries must cover [0, dataLength) exactly once, as the reference implementation requires. */
function checkTiling(tensors: readonly TensorInfo[], dataLength: number, source: string): void {
  // Empty tensors sort before a non-empty one at the same offset, so they never look like overlaps.
  const ordered = tensors.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous: TensorInfo | null = null;
  for (const t of ordered) {
    if (t.begin < position) {
      throw new SafetensorsError(source, `data_offsets [${t.begin}, ${t.end}] overlap those of ${JSON.stringify(previous!.name)} [${previous!.begin}, ${previous!.end}]`, t.name);
    }
    if (t.begin > position) {
      const after = previous === null ? 'at the start of the data section' : `after ${JSON.stringify(previous.name)}`;
      throw new SafetensorsError(source, `the data section has a hole: bytes [${position}, ${t.begin}) ${after} belong to no tensor (next is ${JSON.stringify(t.name)})`);
    }
    position = t.end;
    previous = t;
  }
  if (position !== dataLength) {
    throw new SafetensorsError(source, `the data section is ${dataLength} bytes but the tensors cover only ${position}: ${dataLength - position} trailing bytes belong to no tensor`);
  }
}

/** Parses and validates the header of a whole safetensors file held in memory (the data is not copied or read). */
export function parseSafetensorsHeader(bytes: Uint8Array, source = '<memory>'): SafetensorsHeader {
  const headerLength = parseHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  return parseHeaderJson(bytes.subarray(8, 8 + headerLength), bytes.length - 8 - headerLength, source);
}
