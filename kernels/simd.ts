// The rule for the hand-written WebAssembly SIMD kernels of kernels/wasm/
// (matmul, exp/tanh/GELU/softcap, log-sum-exp, softmax, cross-entropy
// gradient): they replace the GPU.js kernels on the webasm backend, the one
// that runs on this CPU, wherever the JavaScript engine has WebAssembly SIMD
// with shared memory, unless GEMMA2_KERNELS=gpujs asks for GPU.js's generated
// kernels everywhere (the readable path, and the one GPU backends run).

import { BackendError, currentBackend } from './backend.ts';
import { isSimdGemmAvailable } from './wasm/gemm.ts';
import { isVectorMathAvailable } from './wasm/vector-math.ts';
import { allocateResident } from './wasm/memory.ts';

let available: boolean | null = null;

export function useSimdKernels(): boolean {
  const choice = process.env.GEMMA2_KERNELS;
  if (choice !== undefined && choice !== '' && choice !== 'gpujs' && choice !== 'simd') {
    throw new BackendError(`GEMMA2_KERNELS: expected "simd" or "gpujs", got "${choice}"`);
  }
  if (currentBackend() !== 'webasm' || choice === 'gpujs') return false;
  available ??= isSimdGemmAvailable() && isVectorMathAvailable();
  return available;
}

/** GEMMA2_RESIDENT_MB: how much weight data may live in wasm memory (default 2048 MiB of the 4 GiB wasm32 limit). */
function residentBudgetBytes(): number {
  const requested = process.env.GEMMA2_RESIDENT_MB;
  if (requested === undefined || requested === '') return 2048 * 2 ** 20;
  const mb = Number(requested);
  if (!Number.isFinite(mb) || mb < 0) throw new RangeError(`GEMMA2_RESIDENT_MB: expected a number of MiB >= 0, got "${requested}"`);
  return mb * 2 ** 20;
}

/**
 * Zeroed storage for a weight matrix: inside the SIMD kernels' wasm memory
 * when they are in use and the budget allows, so products read the weight
 * in place instead of copying it in on every call (a decode step reads every
 * weight once); an ordinary Float32Array otherwise.
 */
export function allocateWeightStorage(length: number): Float32Array {
  return (useSimdKernels() ? allocateResident(length, residentBudgetBytes()) : null) ?? new Float32Array(length);
}
