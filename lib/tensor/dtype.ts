// Three dtypes: float32 for values and gradients, int32 for token ids, labels
// and masks, and bfloat16 for weights kept in the dtype their checkpoint
// stores (every Gemma2 checkpoint is bf16).
//
// Why bfloat16 is a dtype of its own, held as its raw 16-bit patterns in a
// Uint16Array: a checkpoint's bf16 weights then take half the memory of
// float32 ones, and a decode step, which reads every weight once, reads half
// the bytes. bfloat16 is the top half of a float32 (same sign and 8-bit
// exponent, 7 mantissa bits), so widening is exact: the 16 bits become the
// high half, the low half is zero. The kernels that read weights (the matrix
// products' B operand, the embedding gather) widen as they read and compute in
// float32 exactly as on float32 weights of the same values: the results are
// bit-identical to widening at load. No arithmetic runs in bfloat16. A
// bfloat16 tensor is read-only input to linear, matmul (as the weight) and
// embedding; every other op refuses it (lib/ops/check.ts), it never requires
// gradients (train float32 master weights), and .float() widens it.
// Integer tensors never take part in differentiation.

export type DType = 'float32' | 'int32' | 'bfloat16';

export type TypedData = Float32Array | Int32Array | Uint16Array;

export function allocate(dtype: DType, length: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'bfloat16':
      return new Uint16Array(length);
  }
}

export function dtypeOf(data: TypedData): DType {
  return data instanceof Float32Array ? 'float32' : data instanceof Int32Array ? 'int32' : 'bfloat16';
}

// ---- bfloat16 bits ----------------------------------------------------------------

/** bfloat16 bits -> float32, exact: the 16 bits become the high half. With `out` (same length), written there. */
export function widenBfloat16(bits: Uint16Array, out?: Float32Array): Float32Array {
  const result = out ?? new Float32Array(bits.length);
  if (result.length !== bits.length) throw new RangeError(`widenBfloat16: output holds ${result.length} values, input has ${bits.length}`);
  const outBits = new Uint32Array(result.buffer, result.byteOffset, result.length);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return result;
}

/** One float32 (as its 32-bit pattern) -> bfloat16 bits, round to nearest, ties to even (PyTorch's .to(torch.bfloat16)). */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x007fffff) !== 0) {
    // NaN: keep the sign and the top payload bits, and set the quiet bit so
    // truncation cannot turn a NaN whose payload lies in the low half into Inf.
    return ((x >>> 16) | 0x0040) & 0xffff;
  }
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry out of
  // the mantissa bumps the exponent, which turns the largest values into Inf
  // exactly when IEEE rounding says so.
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** A number rounded to float32, then to bfloat16 (nearest, ties to even): its 16-bit pattern. */
export function toBfloat16Bits(value: number): number {
  scratchFloat[0] = value;
  return f32BitsToBf16(scratchBits[0]);
}

/** Values rounded to bfloat16 bits (each first to float32, as a Float32Array holds it). */
export function roundToBfloat16(values: ArrayLike<number>, out?: Uint16Array): Uint16Array {
  const result = out ?? new Uint16Array(values.length);
  if (result.length !== values.length) throw new RangeError(`roundToBfloat16: output holds ${result.length} values, input has ${values.length}`);
  if (values instanceof Float32Array) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) result[i] = f32BitsToBf16(bits[i]);
  } else {
    for (let i = 0; i < values.length; i++) result[i] = toBfloat16Bits(values[i]);
  }
  return result;
}

/** `length` elements of `dtype`, each `value` (rounded to the dtype). */
export function filled(dtype: DType, length: number, value: number): TypedData {
  return allocate(dtype, length).fill(dtype === 'bfloat16' ? toBfloat16Bits(value) : value);
}

/** The values of `data` as numbers a reader can use: bfloat16 widened to float32, the others as they are (no copy). */
export function readableValues(data: TypedData): Float32Array | Int32Array {
  return data instanceof Uint16Array ? widenBfloat16(data) : data;
}
