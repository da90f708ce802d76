// Two dtypes: float32 for values and gradients, int32 for token ids, labels
// and masks. Integer tensors never take part in differentiation.

export type DType = 'float32' | 'int32';

export type TypedData = Float32Array | Int32Array;

export function allocate(dtype: DType, length: number): TypedData {
  return dtype === 'float32' ? new Float32Array(length) : new Int32Array(length);
}

export function dtypeOf(data: TypedData): DType {
  return data instanceof Float32Array ? 'float32' : 'int32';
}
