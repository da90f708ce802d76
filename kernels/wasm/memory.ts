// The one WebAssembly memory that every SIMD kernel works in, shared with the
// worker threads. Its layout:
//
//   [ resident blocks ........ | scratch ..................... ]
//   0                  residentTop                      buffer end
//
// Resident blocks hold tensors that live in wasm memory for their whole life
// (model weights: a product then reads them in place instead of copying them
// in on every call). The scratch area above them holds one kernel call's
// operands and results; the next call reuses it. Everything is synchronous on
// the main thread, so two calls never hold scratch at once.
//
// Addresses below are in floats (4-byte units) unless a name says bytes.

import type { TypedData } from '../../lib/tensor/dtype.ts';

/** The parts of the WebAssembly JS API used here (the project compiles without the DOM typings that declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE_BYTES = 65536;
/** 4 GiB, the wasm32 limit. */
export const MAX_PAGES = 65536;
/** Floats per 16-byte vector: every block starts on a vector boundary. */
const ALIGN = 4;

let memory: WasmMemory | null = null;
/** Every SharedArrayBuffer object this memory has handed out (a new one after each growth). */
const buffers = new WeakSet<ArrayBufferLike>();

/** The shared memory, created on first use. */
export function sharedMemory(): WasmMemory {
  if (memory === null) memory = new wasm.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
  return memory;
}

export const roundUp = (n: number, multiple: number) => Math.ceil(n / multiple) * multiple;

/** Whether `build` (compiling a module of SIMD kernels over the shared memory) works in this engine. */
export function compiles(build: () => unknown): boolean {
  try {
    build();
    return true;
  } catch {
    return false;
  }
}

/** Grows the memory to at least `floats` floats; returns a view of all of it. */
function ensure(floats: number, what: string): Float32Array {
  const m = sharedMemory();
  const bytes = floats * 4;
  const have = m.buffer.byteLength;
  if (bytes > have) {
    const pages = Math.ceil((bytes - have) / PAGE_BYTES);
    if (have / PAGE_BYTES + pages > MAX_PAGES) throw new RangeError(`${what}: ${bytes} bytes exceed WebAssembly's 4 GiB memory`);
    m.grow(pages);
  }
  buffers.add(m.buffer);
  return new Float32Array(m.buffer);
}

// ---- resident blocks: a first-fit free list below residentTop ----

let residentTop = 0;
/** Free blocks below residentTop, sorted by start, never adjacent (merged). */
const freeBlocks: { start: number; size: number }[] = [];
let residentFloats = 0;

const release = new FinalizationRegistry<{ start: number; size: number }>((block) => freeResident(block.start, block.size));

function freeResident(start: number, size: number): void {
  residentFloats -= size;
  let i = freeBlocks.findIndex((b) => b.start > start);
  if (i < 0) i = freeBlocks.length;
  freeBlocks.splice(i, 0, { start, size });
  // merge with the following and the preceding neighbours
  if (i + 1 < freeBlocks.length && freeBlocks[i].start + freeBlocks[i].size === freeBlocks[i + 1].start) {
    freeBlocks[i].size += freeBlocks[i + 1].size;
    freeBlocks.splice(i + 1, 1);
  }
  if (i > 0 && freeBlocks[i - 1].start + freeBlocks[i - 1].size === freeBlocks[i].start) {
    freeBlocks[i - 1].size += freeBlocks[i].size;
    freeBlocks.splice(i, 1);
    i--;
  }
  // a free block at the top gives its room back to scratch
  const last = freeBlocks[freeBlocks.length - 1];
  if (last && last.start + last.size === residentTop) {
    residentTop = last.start;
    freeBlocks.pop();
  }
}

/**
 * A zeroed array of `length` elements inside wasm memory, freed when the
 * array is garbage-collected: a Float32Array, or for 'bfloat16' a Uint16Array
 * of bfloat16 bits (weights kept as their checkpoint stores them: half the
 * bytes, widened by the kernels as they read). null when `budgetBytes` of
 * resident data would be exceeded (the caller then allocates an ordinary
 * array). Blocks are whole vectors either way.
 */
export function allocateResident(length: number, budgetBytes: number): Float32Array | null;
export function allocateResident(length: number, budgetBytes: number, dtype: 'float32'): Float32Array | null;
export function allocateResident(length: number, budgetBytes: number, dtype: 'bfloat16'): Uint16Array | null;
export function allocateResident(length: number, budgetBytes: number, dtype: 'float32' | 'bfloat16'): Float32Array | Uint16Array | null;
export function allocateResident(length: number, budgetBytes: number, dtype: 'float32' | 'bfloat16' = 'float32'): Float32Array | Uint16Array | null {
  const floats = dtype === 'float32' ? length : Math.ceil(length / 2);
  const size = roundUp(Math.max(floats, 1), ALIGN);
  if ((residentFloats + size) * 4 > budgetBytes) return null;
  let start = -1;
  const fit = freeBlocks.findIndex((b) => b.size >= size);
  if (fit >= 0) {
    start = freeBlocks[fit].start;
    if (freeBlocks[fit].size === size) freeBlocks.splice(fit, 1);
    else freeBlocks[fit] = { start: start + size, size: freeBlocks[fit].size - size };
  } else {
    start = residentTop;
    ensure(start + size, 'resident tensor');
    residentTop = start + size;
  }
  residentFloats += size;
  const view = dtype === 'float32' ? new Float32Array(sharedMemory().buffer, start * 4, length) : new Uint16Array(sharedMemory().buffer, start * 4, length);
  view.fill(0); // a reused block holds an earlier tensor's values
  release.register(view, { start, size });
  return view;
}

/** Where `data` starts in wasm memory (in floats), or -1 when it is an ordinary array (or not float32). */
export function residentOffset(data: TypedData): number {
  if (!(data instanceof Float32Array) || !buffers.has(data.buffer)) return -1;
  return data.byteOffset / 4;
}

/** Where `data` (float32, or bfloat16 bits) starts in wasm memory, in bytes, or -1 when it is an ordinary array. */
export function residentByteOffset(data: TypedData): number {
  if (!(data instanceof Float32Array || data instanceof Uint16Array) || !buffers.has(data.buffer)) return -1;
  return data.byteOffset;
}

/** Bytes of tensors now resident in wasm memory. */
export function residentBytes(): number {
  return residentFloats * 4;
}

/**
 * Scratch for one kernel call: `floats` floats starting at `base` (vector
 * aligned, above every resident block), and a view of the whole memory.
 */
export function scratch(floats: number): { memory: Float32Array; base: number } {
  const base = roundUp(residentTop, ALIGN);
  return { memory: ensure(base + floats, 'kernel operands'), base };
}
