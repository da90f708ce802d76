// Compiling, caching and launching GPU.js kernels, with data kept flat: the
// gpujs implementation of every kernel in kernels/registry.ts comes here (the
// CPU path's implementations do not; the registry counts those itself).
//
// Every kernel sees its arrays as boxes of at most three axes [x, y, z]
// (x fastest) and indexes them with coordinates, a[z][y][x]. That is not a
// style choice: on GPU.js's webasm backend every number inside a kernel,
// indices included, is a float32, so a flat index above 2^24 (16,777,216)
// silently reads the wrong element. GPU.js turns each coordinate into an
// integer before combining them, so a tensor of any size is read exactly as
// long as every axis of its box stays at or below 2^24. launch() enforces
// that bound on every argument and output.
//
// Kernels are compiled once per (backend, kernel, source variant, output box,
// argument boxes, constants) and cached (LRU). Arguments go in as flat typed arrays wrapped in
// GPU.js `Input(data, box)`, which the backends copy without converting nested
// arrays; outputs come back flat (a 2-D/3-D webasm result is row views into
// one buffer, which we take whole without copying).

import gpujs from 'gpu.js';
import type { TypedData } from '../lib/tensor/dtype.ts';
import { type BackendName, BackendError, currentBackend, gpuFor } from './backend.ts';

const { Input } = gpujs;

/** Largest axis a kernel may index exactly: float32 represents every integer up to 2^24. */
export const MAX_KERNEL_AXIS = 2 ** 24;

/** [x, y, z] sizes, x fastest. */
export type Box = [number, number, number];

/** An array argument: flat row-major data viewed as a box. */
export interface BoxedArray {
  data: TypedData;
  box: Box;
}

export type KernelArgument = BoxedArray | number;

// GPU.js kernels are plain functions whose `this` holds thread ids and
// constants; their parameter types are erased, so `any` is the honest type.
export type KernelSource = ((this: any, ...args: any[]) => number) | string;

export interface KernelCall {
  /** The kernel's name, e.g. 'elementwise.add' (statistics are kept per name). */
  name: string;
  /** Tells apart the sources one kernel generates (an element-wise formula per broadcast pattern). */
  variant?: string;
  source: KernelSource;
  /** Output box; every axis at most MAX_KERNEL_AXIS. */
  output: Box;
  args: KernelArgument[];
  /** Compile-time numbers (sizes, flags): part of the cache key. */
  constants?: Record<string, number>;
}

export class KernelLimitError extends Error {
  override name = 'KernelLimitError';
}

export function boxed(data: TypedData, box: Box): BoxedArray {
  return { data, box };
}

function checkBox(kernelName: string, what: string, box: Box): void {
  for (const d of box) {
    if (!Number.isInteger(d) || d < 1 || d > MAX_KERNEL_AXIS) {
      throw new KernelLimitError(
        `${kernelName}: ${what} box [${box.join(', ')}] has an axis outside 1..2^24; float32 kernel indices are exact only up to 2^24`,
      );
    }
  }
}

type CompiledKernel = ((...args: any[]) => any) & { kernel?: { constructor: { mode?: string } }; destroy(): void };

interface CacheEntry {
  source: KernelSource;
  kernel: CompiledKernel;
}

const CACHE_LIMIT = 512;
const cache = new Map<string, CacheEntry>();

export interface KernelStats {
  /** Launches per kernel name. */
  launches: number;
  /** Milliseconds spent in the launches, copies in and out included. */
  milliseconds: number;
  /** The GPU.js backends that actually executed it (GPU.js may degrade a kernel to cpu). */
  ranOn: Set<string>;
  compiles: number;
}
const stats = new Map<string, KernelStats>();

/** Per-kernel launch counts and the backend each one actually ran on. */
export function kernelStats(): ReadonlyMap<string, KernelStats> {
  return stats;
}

export function resetKernelStats(): void {
  stats.clear();
}

/** Destroys every compiled kernel (they are rebuilt on demand). */
export function clearKernelCache(): void {
  for (const entry of cache.values()) entry.kernel.destroy();
  cache.clear();
}

function cacheKey(backend: BackendName, call: KernelCall): string {
  const args = call.args.map((a) => (typeof a === 'number' ? 'n' : a.box.join('x'))).join(',');
  const constants = call.constants ? JSON.stringify(call.constants) : '';
  return `${backend}|${call.name}|${call.variant ?? ''}|${call.output.join('x')}|${args}|${constants}`;
}

/** [x, 1, 1] -> [x] and [x, y, 1] -> [x, y]: GPU.js then returns a flat array for 1-D outputs. */
function gpuOutput(box: Box): number[] {
  if (box[2] !== 1) return box;
  return box[1] === 1 ? [box[0]] : [box[0], box[1]];
}

function compile(backend: BackendName, call: KernelCall): CompiledKernel {
  // createKernel accepts a function or its source text; the typings name only one at a time.
  return gpuFor(backend).createKernel(call.source as string, {
    output: gpuOutput(call.output),
    constants: call.constants ?? {},
    precision: 'single',
    tactic: 'precision',
  }) as unknown as CompiledKernel;
}

/** The result of a 1-D, 2-D or 3-D kernel as one flat Float32Array of x*y*z values. */
function flattenOutput(result: unknown, box: Box): Float32Array {
  const total = box[0] * box[1] * box[2];
  if (result instanceof Float32Array) return result;
  const rows: Float32Array[] = [];
  const collect = (value: unknown) => {
    if (value instanceof Float32Array) rows.push(value);
    else for (const v of value as unknown[]) collect(v);
  };
  collect(result);
  // webasm: rows are consecutive views into one buffer, so the buffer is the answer.
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (
    first.byteOffset === 0 &&
    first.buffer === last.buffer &&
    last.byteOffset === (rows.length - 1) * box[0] * 4 &&
    first.buffer.byteLength >= total * 4
  ) {
    return new Float32Array(first.buffer, 0, total);
  }
  const flat = new Float32Array(total);
  rows.forEach((row, i) => flat.set(row, i * box[0]));
  return flat;
}

function statsFor(name: string): KernelStats {
  let stat = stats.get(name);
  if (stat === undefined) {
    stat = { launches: 0, milliseconds: 0, ranOn: new Set(), compiles: 0 };
    stats.set(name, stat);
  }
  return stat;
}

/** Counts a launch of a kernel that does not go through GPU.js (the CPU path's: kernels/registry.ts). */
export function recordLaunch(name: string, ranOn: string, milliseconds: number): void {
  const stat = statsFor(name);
  stat.launches++;
  stat.milliseconds += milliseconds;
  stat.ranOn.add(ranOn);
}

/** Compiles (or reuses) the kernel for this call's shapes and runs it on the current backend. */
export function launch(call: KernelCall): Float32Array {
  checkBox(call.name, 'output', call.output);
  for (const a of call.args) {
    if (typeof a === 'number') continue;
    checkBox(call.name, 'argument', a.box);
    if (a.data.length !== a.box[0] * a.box[1] * a.box[2]) {
      throw new KernelLimitError(`${call.name}: argument of ${a.data.length} values does not fill its box [${a.box.join(', ')}]`);
    }
  }
  const backend = currentBackend(); // the GPU.js backend also runs the CPU path's 'gpujs' kernels
  const key = cacheKey(backend, call);
  let entry = cache.get(key);
  const stat = statsFor(call.name);
  const started = performance.now();
  if (entry === undefined) {
    entry = { source: call.source, kernel: compile(backend, call) };
    stat.compiles++;
    cache.set(key, entry);
    if (cache.size > CACHE_LIMIT) {
      const [oldestKey, oldest] = cache.entries().next().value!;
      cache.delete(oldestKey);
      oldest.kernel.destroy();
    }
  } else {
    if (entry.source !== call.source) {
      throw new BackendError(`launch: two different kernel sources share the name "${call.name}"${call.variant === undefined ? '' : ` (variant ${call.variant})`}`);
    }
    cache.delete(key); // re-insert: Map order is the LRU order
    cache.set(key, entry);
  }
  const args = call.args.map((a) => (typeof a === 'number' ? a : new Input(a.data as unknown as number[], a.box)));
  const result = entry.kernel(...args);
  const flat = flattenOutput(result, call.output);
  stat.launches++;
  stat.milliseconds += performance.now() - started;
  stat.ranOn.add(entry.kernel.kernel?.constructor.mode ?? backend);
  return flat;
}
