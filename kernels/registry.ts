// Every kernel, by name, with one implementation per compute path, and the
// one place a kernel call picks between them.
//
//   gpujs  the GPU.js kernel: the readable definition of the op, on the
//          current GPU.js backend (kernels/backend.ts)
//   cpu    what the CPU path runs instead: a WebAssembly SIMD kernel
//          (kernels/wasm/), a host loop, a host copy, or, where nothing faster
//          was worth writing, the GPU.js kernel itself
//
// and how the CPU path agrees with the GPU.js kernel on the webasm backend:
// bit for bit ('same-bits': the same float32 operations in the same order), or
// within a tolerance of kernels/tolerances.ts, with the reason it computes
// differently. test/kernels/registry.test.ts walks this registry and checks
// every kernel's claim. The path is chosen once (kernels/backend.ts); a call
// looks it up in the backend object, never in the environment.

import { backend, withComputePath, type ComputePath } from './backend.ts';
import { recordLaunch } from './launch.ts';
import type { TOLERANCES } from './tolerances.ts';

/** What the CPU path runs for a kernel (kernelStats reports it as the kernel's `ranOn`). */
export type CpuKind = 'wasm-simd' | 'host-loop' | 'host-copy' | 'gpujs';

/** How the CPU path's results relate to the GPU.js kernel's on webasm. */
export type Agreement = 'same-bits' | { tolerance: keyof typeof TOLERANCES; why: string };

export interface KernelDefinition<Args extends unknown[], Result> {
  /** Unique: 'family.kernel', e.g. 'rope.forward', 'elementwise.add'. */
  name: string;
  /** The GPU.js kernel(s), launched through kernels/launch.ts. */
  gpujs: (...args: Args) => Result;
  cpu: { kind: CpuKind; run: (...args: Args) => Result };
  agreement: Agreement;
  /**
   * The argument that may hold bfloat16 bits (a Uint16Array: a weight kept as
   * its checkpoint stores it, lib/tensor/dtype.ts), which both implementations
   * widen exactly as they read: the result must be the bits of the same call
   * with that argument widened to float32 (test/kernels/registry.test.ts).
   * Every other kernel takes float32 (and int32) arrays only.
   */
  readsBfloat16?: number;
}

export class KernelRegistryError extends Error {
  override name = 'KernelRegistryError';
}

// The registry holds kernels of every signature; each caller keeps its own typed handle (defineKernel's result).
type AnyKernel = KernelDefinition<any[], unknown>;
const kernels = new Map<string, AnyKernel>();

/** A kernel's implementation on `path`. */
function implementation(kernel: AnyKernel, path: ComputePath): (...args: unknown[]) => unknown {
  const run = path === 'cpu' ? kernel.cpu?.run : kernel.gpujs;
  if (typeof run !== 'function') throw new KernelRegistryError(`kernel ${kernel.name} has no implementation for the ${path} path`);
  return run;
}

/**
 * Registers a kernel and returns the function that runs it on the current
 * path. On the GPU.js path the launches record themselves (kernels/launch.ts);
 * on the CPU path the call is timed and counted here.
 */
export function defineKernel<Args extends unknown[], Result>(definition: KernelDefinition<Args, Result>): (...args: Args) => Result {
  if (kernels.has(definition.name)) throw new KernelRegistryError(`kernel ${definition.name} is defined twice`);
  for (const path of ['gpujs', 'cpu'] as const) implementation(definition as AnyKernel, path); // both present, or an error naming the missing one
  kernels.set(definition.name, definition as AnyKernel);
  const { gpujs, cpu, name } = definition;
  return (...args: Args): Result => {
    if (backend().path === 'gpujs' || cpu.kind === 'gpujs') return gpujs(...args);
    const started = performance.now();
    const result = cpu.run(...args);
    recordLaunch(name, cpu.kind, performance.now() - started);
    return result;
  };
}

/** Every registered kernel (each kernel file registers its own when it is imported; kernels/index.ts imports them all). */
export function registeredKernels(): readonly KernelDefinition<unknown[], unknown>[] {
  return [...kernels.values()];
}

/** The names of every registered kernel. */
export function kernelNames(): string[] {
  return [...kernels.keys()];
}

/** One kernel by name; an error naming it when there is none. */
export function kernelDefinition(name: string): KernelDefinition<unknown[], unknown> {
  const kernel = kernels.get(name);
  if (kernel === undefined) throw new KernelRegistryError(`no kernel named ${name}; registered: ${kernelNames().join(', ')}`);
  return kernel;
}

/**
 * Runs kernel `name` with `path` as the compute path (the kernels it calls in
 * turn follow the same path), then restores the current one: the registry test
 * compares the two paths this way.
 */
export function runKernelOn(path: ComputePath, name: string, args: unknown[]): unknown {
  const kernel = kernelDefinition(name);
  return withComputePath(path, () => implementation(kernel, path)(...args));
}
