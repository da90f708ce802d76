// Which kernels run: decided once, held in one object.
//
// Four settings, read from the environment once (at first use) and changed
// after that only through this API, never by editing process.env:
//
//   backend   the GPU.js backend the GPU.js kernels run on:
//             setBackend(name) > GEMMA2_BACKEND > automatic (in Node webasm,
//             cpu; in a browser webgl2, webgl, webasm, cpu; headless-gl only
//             when named)
//   path      which implementation of each kernel runs (kernels/registry.ts):
//               'cpu'   the CPU path: WebAssembly SIMD kernels (kernels/wasm/)
//                       and host loops, in place of GPU.js's webasm code
//               'gpujs' the GPU.js kernels, the readable definition of every op
//             The CPU path runs on the webasm backend where the engine has
//             WebAssembly SIMD over shared memory (SharedArrayBuffer: in a
//             browser only on a cross-origin-isolated page), unless
//             setComputePath('gpujs') or GEMMA2_KERNELS=gpujs asks for GPU.js;
//             every other backend runs the GPU.js kernels.
//   threads   the CPU path's threads, the main one included:
//             setThreads(n) > GEMMA2_THREADS > one per core (1 where the
//             platform has no worker threads)
//   resident  how much weight data may live in the CPU path's wasm memory:
//             setResidentBudget(MiB) > GEMMA2_RESIDENT_MB > 2048 (of 4 GiB)
//
// Naming a backend or path that is unknown or unavailable is an error that
// lists the choices; nothing silently falls back. webgpu is not offered:
// GPU.js runs it only under its Promise contract, and this library's tensor
// API is synchronous.

import gpujs from 'gpu.js';
import { environmentVariable, nodeBuiltin } from '../lib/platform/host.ts';
import { setWeightAllocator } from '../lib/tensor/storage.ts';
import { isSimdGemmAvailable } from './wasm/gemm.ts';
import { isVectorMathAvailable } from './wasm/vector-math.ts';
import { allocateResident } from './wasm/memory.ts';
import { setThreadCount, workerHostAvailable } from './wasm/threads.ts';

const { GPU } = gpujs;
type GPUInstance = InstanceType<typeof GPU>;

export const BACKENDS = ['webasm', 'cpu', 'headlessgl', 'webgl2', 'webgl'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const COMPUTE_PATHS = ['cpu', 'gpujs'] as const;
export type ComputePath = (typeof COMPUTE_PATHS)[number];

export class BackendError extends Error {
  override name = 'BackendError';
}

/** The settings every kernel launch follows, and why each one holds. */
export interface Backend {
  /** The GPU.js backend. */
  readonly name: BackendName;
  readonly path: ComputePath;
  /** CPU-path threads, the main one included (1: no workers). */
  readonly threads: number;
  /** Bytes of weights that may live in the CPU path's wasm memory. */
  readonly residentBytes: number;
  /** One line per setting: what chose it. */
  readonly why: { readonly name: string; readonly path: string; readonly threads: string };
}

const isBrowser = typeof (globalThis as { document?: unknown }).document !== 'undefined';

export function isBackendAvailable(name: BackendName): boolean {
  switch (name) {
    case 'webasm':
      return GPU.isWebAssemblySupported;
    case 'cpu':
      return true;
    case 'headlessgl':
      return GPU.isHeadlessGLSupported;
    case 'webgl2':
      return GPU.isWebGL2Supported;
    case 'webgl':
      return GPU.isWebGLSupported;
  }
}

/** Every backend that can run here, in the automatic order. */
export function availableBackends(): BackendName[] {
  const order: BackendName[] = isBrowser ? ['webgl2', 'webgl', 'webasm', 'cpu'] : ['webasm', 'cpu', 'headlessgl'];
  return order.filter(isBackendAvailable);
}

function parseBackend(name: string, source: string): BackendName {
  if (name === 'webgpu') {
    throw new BackendError(`${source}: webgpu needs GPU.js's asynchronous kernel contract; gemma2-ts runs kernels synchronously. Use one of: ${BACKENDS.join(', ')}`);
  }
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new BackendError(`${source}: unknown backend "${name}"; expected one of: ${BACKENDS.join(', ')}`);
  }
  const backend = name as BackendName;
  if (!isBackendAvailable(backend)) {
    throw new BackendError(`${source}: backend "${backend}" is not available here; available: ${availableBackends().join(', ')}`);
  }
  return backend;
}

let cpuPathProblem: string | null | undefined;

/** Why the CPU path cannot run in this engine, or null when it can (checked once: it compiles our wasm modules). */
export function cpuPathUnavailableReason(): string | null {
  if (cpuPathProblem === undefined) {
    if (typeof SharedArrayBuffer === 'undefined') {
      cpuPathProblem = isBrowser
        ? 'the page is not cross-origin isolated (serve it with COOP/COEP headers), so there is no SharedArrayBuffer for the SIMD kernels'
        : 'this engine has no SharedArrayBuffer';
    } else if (!isSimdGemmAvailable() || !isVectorMathAvailable()) {
      cpuPathProblem = 'this engine does not compile WebAssembly SIMD over shared memory';
    } else {
      cpuPathProblem = null;
    }
  }
  return cpuPathProblem;
}

function parsePath(value: string, source: string): ComputePath {
  // 'simd' is the path's earlier name
  if (value === 'simd') return 'cpu';
  if (!(COMPUTE_PATHS as readonly string[]).includes(value)) {
    throw new BackendError(`${source}: expected "cpu" (the CPU path) or "gpujs", got "${value}"`);
  }
  return value as ComputePath;
}

function parseThreads(value: string, source: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BackendError(`${source}: expected a positive integer, got "${value}"`);
  return n;
}

function parseResidentMiB(value: string, source: string): number {
  const mb = Number(value);
  if (!Number.isFinite(mb) || mb < 0) throw new BackendError(`${source}: expected a number of MiB >= 0, got "${value}"`);
  return mb;
}

/** The settings the environment asks for (undefined: not set). Every value is checked here, once. */
export interface EnvironmentChoices {
  backend?: BackendName;
  path?: ComputePath;
  threads?: number;
  residentMiB?: number;
}

/** Reads GEMMA2_BACKEND, GEMMA2_KERNELS, GEMMA2_THREADS and GEMMA2_RESIDENT_MB from `read` (the process environment by default). */
export function readEnvironment(read: (name: string) => string | undefined = environmentVariable): EnvironmentChoices {
  const backend = read('GEMMA2_BACKEND');
  const path = read('GEMMA2_KERNELS');
  const threads = read('GEMMA2_THREADS');
  const resident = read('GEMMA2_RESIDENT_MB');
  return {
    backend: backend === undefined ? undefined : parseBackend(backend, 'GEMMA2_BACKEND'),
    path: path === undefined ? undefined : parsePath(path, 'GEMMA2_KERNELS'),
    threads: threads === undefined ? undefined : parseThreads(threads, 'GEMMA2_THREADS'),
    residentMiB: resident === undefined ? undefined : parseResidentMiB(resident, 'GEMMA2_RESIDENT_MB'),
  };
}

/** Cores of this machine: Node's availableParallelism, a browser's hardwareConcurrency. */
function coreCount(): number {
  const os = nodeBuiltin<{ availableParallelism?: () => number; cpus: () => unknown[] }>('node:os');
  if (os !== undefined) return os.availableParallelism?.() ?? os.cpus().length;
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

const DEFAULT_RESIDENT_MIB = 2048;

let environment: EnvironmentChoices | null = null;
const chosen: { backend?: BackendName; path?: ComputePath; threads?: number; residentMiB?: number } = {};
let resolved: Backend | null = null;

function resolve(): Backend {
  environment ??= readEnvironment();
  const env = environment;
  const name = chosen.backend ?? env.backend ?? availableBackends()[0];
  const nameWhy =
    chosen.backend !== undefined ? 'chosen by setBackend()' : env.backend !== undefined ? 'chosen by GEMMA2_BACKEND' : `automatic: first available of ${availableBackends().join(', ')}`;

  let path: ComputePath;
  let pathWhy: string;
  const asked = chosen.path ?? env.path;
  const askedBy = chosen.path !== undefined ? 'setComputePath()' : 'GEMMA2_KERNELS';
  if (name !== 'webasm') {
    // a path chosen for webasm waits there (setComputePath refuses 'cpu' on another backend)
    [path, pathWhy] = ['gpujs', `the ${name} backend runs the GPU.js kernels`];
  } else if (asked === 'gpujs') {
    [path, pathWhy] = ['gpujs', `chosen by ${askedBy}`];
  } else {
    const problem = cpuPathUnavailableReason();
    if (problem !== null && asked === 'cpu') throw new BackendError(`${askedBy}: the CPU path cannot run here: ${problem}`);
    [path, pathWhy] = problem === null ? ['cpu', asked === 'cpu' ? `chosen by ${askedBy}` : 'automatic on webasm'] : ['gpujs', `the CPU path cannot run: ${problem}`];
  }

  let threads = chosen.threads ?? env.threads ?? coreCount();
  let threadsWhy = chosen.threads !== undefined ? 'chosen by setThreads()' : env.threads !== undefined ? 'chosen by GEMMA2_THREADS' : 'one per core';
  if (threads > 1 && !workerHostAvailable()) [threads, threadsWhy] = [1, 'this platform gives the library no worker threads'];

  const residentMiB = chosen.residentMiB ?? env.residentMiB ?? DEFAULT_RESIDENT_MIB;
  return { name, path, threads, residentBytes: residentMiB * 2 ** 20, why: { name: nameWhy, path: pathWhy, threads: threadsWhy } };
}

/** The current settings. Cheap: resolved once, again only after a setter changes something. */
export function backend(): Backend {
  if (resolved === null) {
    resolved = resolve();
    setThreadCount(resolved.threads); // the SIMD kernels' worker pool follows the settings
  }
  return resolved;
}

/** Puts the setters' choices back to a snapshot taken earlier. */
function restore(snapshot: typeof chosen): void {
  for (const key of Object.keys(chosen) as (keyof typeof chosen)[]) delete chosen[key];
  Object.assign(chosen, snapshot);
  resolved = null;
}

/** Applies a setter, checking the new combination now: a bad one is reported by the call that made it. */
function change(update: () => void): void {
  const before = { ...chosen };
  update();
  resolved = null;
  try {
    backend();
  } catch (error) {
    restore(before);
    throw error;
  }
}

/** Selects the GPU.js backend for every following kernel launch. */
export function setBackend(name: BackendName | string): void {
  const parsed = parseBackend(name, 'setBackend');
  change(() => (chosen.backend = parsed));
}

/** Selects the compute path ('cpu' or 'gpujs') on the webasm backend. */
export function setComputePath(path: ComputePath | string): void {
  const parsed = parsePath(path, 'setComputePath');
  refuseCpuPathOffWebasm(parsed, 'setComputePath');
  change(() => (chosen.path = parsed));
}

function refuseCpuPathOffWebasm(path: ComputePath, caller: string): void {
  const name = backend().name;
  if (path === 'cpu' && name !== 'webasm') throw new BackendError(`${caller}: the CPU path replaces the webasm backend's kernels; the backend is ${name}`);
}

/** Sets the CPU path's thread count (1: no worker threads). */
export function setThreads(count: number): void {
  const parsed = parseThreads(String(count), 'setThreads');
  change(() => (chosen.threads = parsed));
}

/** Sets how many MiB of weights may live in the CPU path's wasm memory (weights allocated afterwards). */
export function setResidentBudget(mib: number): void {
  const parsed = parseResidentMiB(String(mib), 'setResidentBudget');
  change(() => (chosen.residentMiB = parsed));
}

/** Forgets every setter, so the environment's choices (read at first use) and the automatic ones apply again. */
export function resetBackend(): void {
  restore({});
}

/** The GPU.js backend now in use. */
export function currentBackend(): BackendName {
  return backend().name;
}

/** Why the current settings hold, for logs and `--backend` messages. */
export function describeBackend(): string {
  const b = backend();
  const kernels = b.path === 'cpu' ? `CPU path (SIMD kernels and host loops), ${b.threads} thread${b.threads === 1 ? '' : 's'}` : 'GPU.js kernels';
  return `${b.name} (${b.why.name}); ${kernels} (${b.path === 'cpu' ? b.why.threads : b.why.path})`;
}

function within<T>(update: () => void, fn: () => T): T {
  const saved = { ...chosen };
  change(update);
  try {
    return fn();
  } finally {
    restore(saved);
  }
}

/** Runs `fn` on GPU.js backend `name`, then restores the previous choice. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const parsed = parseBackend(name, 'withBackend');
  return within(() => (chosen.backend = parsed), fn);
}

/** Runs `fn` on compute path `path`, then restores the previous choice. */
export function withComputePath<T>(path: ComputePath, fn: () => T): T {
  const parsed = parsePath(path, 'withComputePath');
  refuseCpuPathOffWebasm(parsed, 'withComputePath');
  return within(() => (chosen.path = parsed), fn);
}

/** Runs `fn` with `count` CPU-path threads, then restores the previous choice. */
export function withThreads<T>(count: number, fn: () => T): T {
  const parsed = parseThreads(String(count), 'withThreads');
  return within(() => (chosen.threads = parsed), fn);
}

const instances = new Map<BackendName, GPUInstance>();

/** One GPU.js instance per backend, created on first use. */
export function gpuFor(name: BackendName): GPUInstance {
  let gpu = instances.get(name);
  if (gpu === undefined) {
    gpu = new GPU({ mode: name });
    instances.set(name, gpu);
  }
  return gpu;
}

// Weights (lib/model's initWeight) are allocated through lib/tensor/storage.ts; on the CPU path they go into
// the kernels' wasm memory, within the resident budget, so products read them in place instead of copying
// them in on every call (a decode step reads every weight once). null: an ordinary array.
// bfloat16 weights (kept as their checkpoint stores them) count their own two bytes against the budget.
setWeightAllocator((length, dtype) => {
  const b = backend();
  return b.path === 'cpu' ? allocateResident(length, b.residentBytes, dtype) : null;
});
