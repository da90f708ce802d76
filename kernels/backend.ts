// Which GPU.js backend runs the kernels, and the one rule that picks it:
//
//   1. setBackend(name) if it was called, else
//   2. the GEMMA2_BACKEND environment variable if it is set, else
//   3. automatic: in a browser webgl2 -> webgl -> webasm -> cpu; in Node
//      webasm -> cpu (headless-gl is used only when asked for by name).
//
// webasm (GPU.js's WebAssembly + f32x4 SIMD backend) is the default on Node;
// cpu is GPU.js's plain-JavaScript fallback. Naming a backend that is not
// available here is an error, never a silent fallback. webgpu is not offered:
// GPU.js runs it only under its Promise contract, and this library's tensor
// API is synchronous.

import gpujs from 'gpu.js';

const { GPU } = gpujs;
type GPUInstance = InstanceType<typeof GPU>;

export const BACKENDS = ['webasm', 'cpu', 'headlessgl', 'webgl2', 'webgl'] as const;
export type BackendName = (typeof BACKENDS)[number];

export class BackendError extends Error {
  override name = 'BackendError';
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

let chosen: BackendName | null = null;
let chosenBy = '';

/** Selects the backend for every following kernel launch. */
export function setBackend(name: BackendName | string): void {
  chosen = parseBackend(name, 'setBackend');
  chosenBy = 'setBackend()';
}

/** Forgets setBackend(), so the environment variable or the automatic choice applies again. */
export function resetBackend(): void {
  chosen = null;
  chosenBy = '';
}

export function currentBackend(): BackendName {
  if (chosen !== null) return chosen;
  const fromEnv = process.env.GEMMA2_BACKEND;
  if (fromEnv !== undefined && fromEnv !== '') return parseBackend(fromEnv, 'GEMMA2_BACKEND');
  return availableBackends()[0];
}

/** Why the current backend is the current one, for logs and `--backend` messages. */
export function describeBackend(): string {
  const backend = currentBackend();
  if (chosen !== null) return `${backend} (chosen by ${chosenBy})`;
  if (process.env.GEMMA2_BACKEND) return `${backend} (chosen by GEMMA2_BACKEND)`;
  return `${backend} (automatic: first available of ${availableBackends().join(', ')})`;
}

/** Runs `fn` with `name` as the backend, then restores the previous choice. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const previous = chosen;
  const previousBy = chosenBy;
  setBackend(name);
  try {
    return fn();
  } finally {
    chosen = previous;
    chosenBy = previousBy;
  }
}

const instances = new Map<BackendName, GPUInstance>();

/** One GPU.js instance per backend, created on first use. */
export function gpuFor(backend: BackendName): GPUInstance {
  let gpu = instances.get(backend);
  if (gpu === undefined) {
    gpu = new GPU({ mode: backend });
    instances.set(backend, gpu);
  }
  return gpu;
}
