// Where tensor elements live. Most tensors own a plain Float32Array or
// Int32Array. Model weights may instead live in the SIMD kernels' WebAssembly
// memory (kernels/wasm/memory.ts), so products read them in place; such an
// array is a view of one shared buffer whose block is freed when the array is
// garbage-collected. A sub-view must therefore keep its parent alive: every
// sub-view of tensor storage is made here, and one over shared memory holds
// a reference to the array it was cut from. Where weights go is a policy the
// kernels set (setWeightAllocator below), so the model asks for weight
// storage here without knowing about kernels.

import type { TypedData } from './dtype.ts';

const parents = new WeakMap<TypedData, TypedData>();

/** data[begin, end) without copying: data itself when that is all of it. */
export function subarrayOf(data: TypedData, begin: number, end: number): TypedData {
  if (begin === 0 && end === data.length) return data;
  const view = data.subarray(begin, end) as TypedData;
  if (typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) parents.set(view, data);
  return view;
}

/** The dtypes weight storage comes in: float32, or bfloat16 for weights kept as their checkpoint stores them (dtype.ts). */
export type WeightDType = 'float32' | 'bfloat16';

/** Places weight storage where the compute path reads it fastest; null: an ordinary array. */
export type WeightAllocator = (length: number, dtype: WeightDType) => Float32Array | Uint16Array | null;

let weightAllocator: WeightAllocator = () => null;

/**
 * The weight-storage policy, set by the kernels' backend (kernels/backend.ts):
 * on the CPU path, weights live in the SIMD kernels' wasm memory, so products
 * read them in place. The model asks for storage here and never sees kernels.
 */
export function setWeightAllocator(allocator: WeightAllocator): void {
  weightAllocator = allocator;
}

/** Zeroed storage for a weight of `length` elements, placed by the current policy. */
export function allocateWeightStorage(length: number): Float32Array;
export function allocateWeightStorage(length: number, dtype: 'float32'): Float32Array;
export function allocateWeightStorage(length: number, dtype: 'bfloat16'): Uint16Array;
export function allocateWeightStorage(length: number, dtype: WeightDType): Float32Array | Uint16Array;
export function allocateWeightStorage(length: number, dtype: WeightDType = 'float32'): Float32Array | Uint16Array {
  return weightAllocator(length, dtype) ?? (dtype === 'float32' ? new Float32Array(length) : new Uint16Array(length));
}
