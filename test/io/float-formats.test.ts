// bf16 and f16 conversions against independent references: decoding by the
// formula (sign x 2^exponent x 1.mantissa), and narrowing by searching for the
// nearest representable value in float64 with ties to the even pattern.
// Exhaustive over all 65536 16-bit patterns; random and boundary float32s.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../lib/io/float-formats.ts';

const ALL_PATTERNS = Uint16Array.from({ length: 65536 }, (_, i) => i);

function f32FromBits(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits >>> 0);
  return view.getFloat32(0);
}

function bitsOfF32(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/** IEEE half by the formula. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

/** Nearest half to x (a float32 value), ties to the even pattern, overflow to Inf: a binary search over the patterns. */
function referenceF16(x: number, signBit: boolean): number {
  if (Number.isNaN(x)) return -1; // callers check NaN separately
  const sign = signBit ? 0x8000 : 0;
  const a = Math.abs(x);
  // Non-negative half patterns 0..0x7c00 increase with their value; treat
  // 0x7c00 (Inf) as 2^16, where the exponent would continue, for rounding.
  const value = (h: number): number => (h === 0x7c00 ? 65536 : halfValue(h));
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (value(mid) <= a) lo = mid;
    else hi = mid;
  }
  const down = a - value(lo);
  const up = value(hi) - a;
  if (down < up) return sign | lo;
  if (up < down) return sign | hi;
  return sign | (lo % 2 === 0 ? lo : hi);
}

/** Nearest bfloat16 to the float32 with these bits, ties to even: compare the two neighbours in float64. */
function referenceBf16(bits: number): number {
  const x = f32FromBits(bits);
  if (Number.isNaN(x)) return -1;
  const truncated = bits >>> 16;
  if (!Number.isFinite(x) || (bits & 0xffff) === 0) return truncated;
  const low = f32FromBits(truncated << 16);
  // The next bfloat16 away from zero; from the largest finite one that is Inf, which rounds like 2^128.
  const next = truncated + 1;
  const high = (next & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : f32FromBits(next << 16);
  const down = Math.abs(x - low);
  const up = Math.abs(high - x);
  if (down < up) return truncated;
  if (up < down) return next;
  return truncated % 2 === 0 ? truncated : next;
}

/** Float32 bit patterns worth checking: specials, every boundary of the half range, and their neighbours. */
function interestingF32Bits(): number[] {
  const values = [0, -0, 1, -1, 65504, 65505, 65519.99, 65520, 65535, 65536, 1e10, -65520, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, 1e-30, 3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38, Infinity, -Infinity, 1 / 3, Math.PI];
  const bits = new Set<number>();
  const f = new Float32Array(1);
  const b = bitsOfF32(f);
  for (const v of values) {
    f[0] = v;
    for (const delta of [-2, -1, 0, 1, 2]) bits.add((b[0] + delta) >>> 0);
  }
  // Midpoints between consecutive halves and bfloat16s (exact ties) across the ranges.
  for (let h = 0; h < 0x7c00; h += 37) {
    f[0] = (halfValue(h) + halfValue(h + 1)) / 2;
    bits.add(b[0]);
    bits.add((b[0] | 0x80000000) >>> 0);
  }
  for (let p = 0; p < 0x7f80; p += 41) bits.add(((p << 16) | 0x8000) >>> 0);
  // NaNs with payloads only in the low half, which naive truncation would turn into Inf.
  for (const nan of [0x7f800001, 0xff800001, 0x7fc00000, 0x7f801fff, 0x7fffffff]) bits.add(nan >>> 0);
  return [...bits];
}

function isNaNBf16(h: number): boolean {
  return (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
}
function isNaNF16(h: number): boolean {
  return (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
}

describe('bfloat16', () => {
  test('every pattern widens exactly (bits << 16) and narrows back to itself; NaN stays NaN with its sign', () => {
    const wide = bf16ToF32(ALL_PATTERNS);
    const wideBits = bitsOfF32(wide);
    const wrong = ALL_PATTERNS.findIndex((h) => wideBits[h] !== ((h << 16) >>> 0));
    expect(wrong, 'first pattern that did not widen to bits << 16').toBe(-1);
    const back = f32ToBf16(wide);
    for (let h = 0; h < 65536; h++) {
      if (isNaNBf16(h)) {
        if (!isNaNBf16(back[h]) || (back[h] & 0x8000) !== (h & 0x8000)) throw new Error(`bf16 NaN 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
      } else if (back[h] !== h) {
        throw new Error(`bf16 pattern 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
      }
    }
  });

  test('narrowing rounds to nearest even, overflows to Inf (boundary values)', () => {
    const bits = Uint32Array.from(interestingF32Bits());
    const out = f32ToBf16(new Float32Array(bits.buffer));
    bits.forEach((b, i) => {
      if (Number.isNaN(f32FromBits(b))) {
        expect(isNaNBf16(out[i]), `0x${b.toString(16)}`).toBe(true);
      } else {
        expect(out[i], `float32 bits 0x${b.toString(16)}`).toBe(referenceBf16(b));
      }
    });
    const f = new Float32Array([3.4028234663852886e38, 3.3895313892515355e38, -3.4e38, 1.00390625, 1.01171875]);
    // max float32 rounds up past the largest bfloat16 (0x7f7f) to Inf; 1 + 2^-8 is a tie to even (1); 1 + 3 * 2^-8 ties up to 1 + 2^-6.
    expect(Array.from(f32ToBf16(f))).toEqual([0x7f80, 0x7f7f, 0xff80, 0x3f80, 0x3f82]);
  });

  test('narrowing random float32s matches the reference', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 64 }), (patterns) => {
        const bits = Uint32Array.from(patterns);
        const out = f32ToBf16(new Float32Array(bits.buffer));
        bits.forEach((b, i) => {
          if (Number.isNaN(f32FromBits(b))) expect(isNaNBf16(out[i])).toBe(true);
          else expect(out[i]).toBe(referenceBf16(b));
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('float16', () => {
  test('every pattern widens to the value the formula gives (subnormals, signed zero, Inf, NaN)', () => {
    const wide = f16ToF32(ALL_PATTERNS);
    for (let h = 0; h < 65536; h++) {
      const expected = halfValue(h);
      if (Number.isNaN(expected)) {
        if (!Number.isNaN(wide[h])) throw new Error(`half NaN 0x${h.toString(16)} widened to ${wide[h]}`);
      } else if (!Object.is(wide[h], expected)) throw new Error(`half 0x${h.toString(16)} widened to ${wide[h]}, expected ${expected}`);
    }
  });

  test('every pattern round-trips through float32; NaN stays NaN with its sign and payload', () => {
    const back = f32ToF16(f16ToF32(ALL_PATTERNS));
    for (let h = 0; h < 65536; h++) {
      if (isNaNF16(h)) {
        // Sign and payload kept; the quiet bit (0x200) is set.
        if (!isNaNF16(back[h]) || (back[h] & 0x81ff) !== (h & 0x81ff)) throw new Error(`half NaN 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
      } else if (back[h] !== h) {
        throw new Error(`half 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
      }
    }
  });

  test('narrowing rounds to nearest even: ties, subnormals, underflow to zero, overflow to Inf', () => {
    const bits = Uint32Array.from(interestingF32Bits());
    const out = f32ToF16(new Float32Array(bits.buffer));
    bits.forEach((b, i) => {
      const x = f32FromBits(b);
      if (Number.isNaN(x)) expect(isNaNF16(out[i]), `0x${b.toString(16)}`).toBe(true);
      else expect(out[i], `float32 ${x} (bits 0x${b.toString(16)})`).toBe(referenceF16(x, b >= 0x80000000));
    });
    const f = new Float32Array([65504, 65519, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 2 ** -25 * 1.5, 2 ** -26, -0, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
    expect(Array.from(f32ToF16(f))).toEqual([0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00, 0x0001, 0x0000, 0x0001, 0x0000, 0x8000, 0x3c00, 0x3c02]);
  });

  test('narrowing random float32s matches the reference', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0x33000000, max: 0x477fffff })), { minLength: 1, maxLength: 64 }), (patterns) => {
        const bits = Uint32Array.from(patterns);
        const out = f32ToF16(new Float32Array(bits.buffer));
        bits.forEach((b, i) => {
          const x = f32FromBits(b);
          if (Number.isNaN(x)) expect(isNaNF16(out[i])).toBe(true);
          else expect(out[i]).toBe(referenceF16(x, b >= 0x80000000));
        });
      }),
      { numRuns: 300 },
    );
  });
});

test('an output array of the wrong length is an error naming the conversion', () => {
  expect(() => f32ToF16(new Float32Array(3), new Uint16Array(2))).toThrow(/f32ToF16: output holds 2 values, input has 3/);
  expect(() => bf16ToF32(new Uint16Array(1), new Float32Array(2))).toThrow(/bf16ToF32: output holds 2 values, input has 1/);
  const out = new Float32Array(2);
  expect(f16ToF32(new Uint16Array([0x3c00, 0xc000]), out)).toBe(out);
  expect(Array.from(out)).toEqual([1, -2]);
});
