// The 16-bit float formats checkpoints are stored in, converted to and from
// float32 on whole typed arrays, bit by bit (no Math.fround tricks, so NaN
// payloads and signed zeros survive and the rounding is exactly IEEE's).
//
// bfloat16 is the top half of a float32: same 8-bit exponent, 7 mantissa
// bits. float16 (IEEE binary16) has a 5-bit exponent (bias 15), 10 mantissa
// bits and subnormals down to 2^-24. Both narrowings round to nearest, ties
// to even, as PyTorch's `.to(torch.bfloat16)` / `.to(torch.float16)` do.

import { f32BitsToBf16, widenBfloat16 } from '../tensor/dtype.ts';

/** The raw bits of a float32 array (a view, no copy). */
function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function checkOut<T extends { length: number }>(out: T | undefined, length: number, what: string, make: (n: number) => T): T {
  if (out === undefined) return make(length);
  if (out.length !== length) throw new RangeError(`${what}: output holds ${out.length} values, input has ${length}`);
  return out;
}

// ---- bfloat16 ------------------------------------------------------------------

/** bfloat16 bits -> float32. Exact: a bfloat16 is a float32 with its low 16 bits zero. */
export function bf16ToF32(bits: Uint16Array, out?: Float32Array): Float32Array {
  return widenBfloat16(bits, checkOut(out, bits.length, 'bf16ToF32', (n) => new Float32Array(n)));
}

/** One float32 (as its bits) -> bfloat16 bits, round to nearest even (one definition, in lib/tensor: bfloat16 is also a tensor dtype). */
export { f32BitsToBf16 };

/** float32 -> bfloat16 bits, round to nearest even; NaN stays NaN, overflow goes to Inf. */
export function f32ToBf16(values: Float32Array, out?: Uint16Array): Uint16Array {
  const result = checkOut(out, values.length, 'f32ToBf16', (n) => new Uint16Array(n));
  const bits = bitsOf(values);
  for (let i = 0; i < bits.length; i++) result[i] = f32BitsToBf16(bits[i]);
  return result;
}

// ---- float16 -------------------------------------------------------------------

/** float16 bits -> float32 bits. Exact: every half is a float32. */
export function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // Inf, NaN (payload kept)
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0; // 112 = 127 - 15
  if (mantissa === 0) return sign >>> 0; // signed zero
  // Subnormal: mantissa * 2^-24. Shift the leading 1 up to the implicit bit
  // and lower the exponent once per shift.
  let m = mantissa;
  let e = 113; // the float32 exponent field of 2^-14, the subnormals' scale
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

// 65536 entries (256 KB), built on first use: a table lookup is the fastest
// exact widening and checkpoints can hold billions of halves.
let halfTable: Uint32Array | null = null;

function halfToF32Table(): Uint32Array {
  if (halfTable === null) {
    halfTable = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = f16ToF32Bits(h);
  }
  return halfTable;
}

/** float16 bits -> float32 (exact, subnormals, Inf and NaN included). */
export function f16ToF32(bits: Uint16Array, out?: Float32Array): Float32Array {
  const result = checkOut(out, bits.length, 'f16ToF32', (n) => new Float32Array(n));
  const outBits = bitsOf(result);
  const table = halfToF32Table();
  for (let i = 0; i < bits.length; i++) outBits[i] = table[bits[i]];
  return result;
}

/** One float32 (as its bits) -> float16 bits, round to nearest even, overflow to Inf. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) {
    // Inf stays Inf; NaN keeps its top payload bits and is made quiet so it cannot become Inf.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const e = exponent - 112; // the half's biased exponent
  if (e >= 31) return sign | 0x7c00; // at least 2^16: beyond the largest half even after rounding
  if (e <= 0) {
    // Half subnormal (or zero): the value in units of 2^-24 is m >> (14 - e).
    // Below 2^-25 (e < -10) everything rounds to zero, float32 subnormals included.
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e; // 14..24
    const kept = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    // Rounding up from the largest subnormal carries into the smallest normal (0x0400): still right.
    return sign | (rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept);
  }
  const kept = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent; from 65504 it lands on Inf (0x7c00), as IEEE says.
  return sign | (rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1) ? kept + 1 : kept);
}

/** float32 -> float16 bits, round to nearest even; subnormals, Inf and NaN kept, overflow to Inf. */
export function f32ToF16(values: Float32Array, out?: Uint16Array): Uint16Array {
  const result = checkOut(out, values.length, 'f32ToF16', (n) => new Uint16Array(n));
  const bits = bitsOf(values);
  for (let i = 0; i < bits.length; i++) result[i] = f32BitsToF16(bits[i]);
  return result;
}
