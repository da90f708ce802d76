// Transcendental element-wise kernels and row reductions on WebAssembly SIMD,
// four floats per instruction, for the webasm backend.
//
// Why: GPU.js's webasm code calls JavaScript's Math.exp / Math.tanh once per
// element (about 40 ns each here) and copies every operand in and out per
// launch, so the softcaps, GELU and the log-sum-exps took more than half of a
// bench-small forward. Here exp is computed the Cephes way, vectorised:
//
//   exp(x) = 2^n e^r,  n = round(x log2 e),  r = x - n ln 2 (ln 2 split in two
//            parts so r is exact),  e^r = 1 + r + r^2 P(r) with P of degree 5
//            on |r| <= ln2/2 (about 1 ulp), 2^n built in the exponent bits.
//   tanh(x) = x + x^3 Q(x^2)                  for |x| < 0.625  (degree 4)
//           = sign(x) (1 - 2 / (e^(2|x|) + 1)) otherwise
//
// Below x = -86.5, exp returns 0 (the true value is under 3e-38), above
// 88.72 infinity; NaN stays NaN. Measured against float64 (npm run
// measure:tolerances, test/cpu-path.test.ts) the error stays within the
// transcendental tolerance of kernels/tolerances.ts.
//
// Host side: operands are copied into scratch wasm memory, padded to whole
// groups of UNROLL vectors (rows each padded on their own for the row
// kernels), split across the worker threads, and the result is copied back
// out; arrays past vectorMathLimits go through in pieces.

import { outputArray } from '../../lib/tensor/arena.ts';
import type { TypedData } from '../../lib/tensor/dtype.ts';
import { F32, I32, V128, buildModule, op, type FunctionSpec } from './module-builder.ts';
import { MAX_PAGES, compiles, roundUp, scratch, sharedMemory, wasm } from './memory.ts';
import { parallel, registerModule } from './threads.ts';
import { cascadeLoop } from './cascade.ts';
import { transpose4x4 } from './transpose.ts';

const get = op.localGet;
const set = op.localSet;
const splat = op.f32x4Const;

// Cephes expf: ln 2 = LN2_HI + LN2_LO, LN2_HI exact in a few bits
const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
const EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
/** exp(x) overflows float32 above this. */
const EXP_HI = 88.72283905206835;
/** Below this exp(x) < 2^-124.8, returned as 0 (2^(n-1) stays a normal float for n >= -125). */
const EXP_LO = -86.5;
// Cephes tanhf, |x| < 0.625
const TANH_POLY = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
const TANH_SMALL = 0.625;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** (((c0 r + c1) r + c2) ...) r + c_last, left on the stack. */
function horner(r: number, coefficients: number[]): number[] {
  const code = [...splat(coefficients[0])];
  for (const c of coefficients.slice(1)) code.push(...get(r), ...op.f32x4Mul, ...splat(c), ...op.f32x4Add);
  return code;
}

/** Scratch v128 locals an expression may use; each emitter documents which it clobbers. */
interface Temps {
  t: number[];
}

/**
 * Code as a list of statements (each leaves the stack empty). A kernel
 * computes UNROLL vectors per loop turn with one copy of the statements per
 * vector, interleaved statement by statement: exp is a chain of some forty
 * dependent instructions, and independent chains side by side keep the
 * core's pipelines full (measured: exp and tanh twice as fast as one vector
 * at a time, 1.5-2 ns per value with the copies).
 */
type Statements = number[][];
const UNROLL = 4;

/** The statements of each copy, interleaved: s0 of every copy, then s1 of every copy, ... */
function interleave(copies: Statements[]): number[] {
  const code: number[] = [];
  for (let s = 0; s < copies[0].length; s++) for (const copy of copies) code.push(...copy[s]);
  return code;
}

/** out = exp(x) (out may be x); clobbers t[0..2]. */
function emitExp(x: number, out: number, { t: [n, r, keep] }: Temps): Statements {
  return [
    // r = clamp(x) (pmin/pmax let NaN through); n = round(r log2 e); r = (r - n LN2_HI) - n LN2_LO
    [...get(x), ...set(keep)],
    [...get(x), ...splat(EXP_HI), ...op.f32x4Pmin, ...splat(EXP_LO), ...op.f32x4Pmax, ...set(r)],
    [...get(r), ...splat(LOG2E), ...op.f32x4Mul, ...op.f32x4Nearest, ...set(n)],
    [...get(r), ...get(n), ...splat(LN2_HI), ...op.f32x4Mul, ...op.f32x4Sub, ...get(n), ...splat(LN2_LO), ...op.f32x4Mul, ...op.f32x4Sub, ...set(r)],
    // e^r = P(r) r^2 + r + 1
    [...horner(r, EXP_POLY), ...get(r), ...op.f32x4Mul, ...get(r), ...op.f32x4Mul, ...get(r), ...op.f32x4Add, ...splat(1), ...op.f32x4Add, ...set(out)],
    // 2^n e^r = (e^r + e^r) 2^(n-1), 2^(n-1) from its exponent bits (n - 1 + 127) << 23, so n = 128 still fits
    [...get(out), ...get(out), ...op.f32x4Add, ...get(n), ...op.i32x4TruncSatF32x4S, ...op.i32x4Const(126), ...op.i32x4Add, ...op.i32Const(23), ...op.i32x4Shl, ...op.f32x4Mul, ...set(out)],
    // the ends of the range: 0 below EXP_LO, infinity above EXP_HI (NaN fails both tests and stays NaN)
    [...splat(0), ...get(out), ...get(keep), ...splat(EXP_LO), ...op.f32x4Lt, ...op.v128Bitselect, ...set(out)],
    [...splat(Infinity), ...get(out), ...get(keep), ...splat(EXP_HI), ...op.f32x4Gt, ...op.v128Bitselect, ...set(out)],
  ];
}

/** out = tanh(x) (out may be x); clobbers t[0..4]. */
function emitTanh(x: number, out: number, temps: Temps): Statements {
  const [small, big] = temps.t.slice(3);
  return [
    // small = x + x^3 Q(x^2)
    [...get(x), ...get(x), ...op.f32x4Mul, ...set(small)],
    [...horner(small, TANH_POLY), ...get(small), ...op.f32x4Mul, ...get(x), ...op.f32x4Mul, ...get(x), ...op.f32x4Add, ...set(small)],
    // big = 1 - 2 / (exp(2|x|) + 1)
    [...get(x), ...op.f32x4Abs, ...get(x), ...op.f32x4Abs, ...op.f32x4Add, ...set(big)],
    ...emitExp(big, big, temps),
    [...splat(1), ...splat(2), ...get(big), ...splat(1), ...op.f32x4Add, ...op.f32x4Div, ...op.f32x4Sub, ...set(big)],
    [...get(big), ...get(small), ...get(x), ...op.f32x4Abs, ...splat(TANH_SMALL), ...op.f32x4Ge, ...op.v128Bitselect, ...set(small)],
    // tanh is odd: the result takes x's sign bit (so tanh(-0) = -0, as Math.tanh)
    [...get(x), ...get(small), ...op.i32x4Const(-0x80000000), ...op.v128Bitselect, ...set(out)],
  ];
}

/** u = sqrt(2/pi) (x + 0.044715 x^3), in the order of the GPU.js formula; out = tanh(u). Clobbers t[0..5]. */
function emitGeluTanhOfInner(x: number, out: number, temps: Temps): Statements {
  const u = temps.t[5];
  return [
    [...splat(0.044715), ...get(x), ...op.f32x4Mul, ...get(x), ...op.f32x4Mul, ...get(x), ...op.f32x4Mul, ...get(x), ...op.f32x4Add, ...splat(SQRT_2_OVER_PI), ...op.f32x4Mul, ...set(u)],
    ...emitTanh(u, out, temps),
  ];
}

/** 0.5 x (1 + th), th = tanh(u) (the GELU from its tanh), left on the stack in the GPU.js formula's order. */
function geluFromTanh(x: number, th: number): number[] {
  return [...splat(0.5), ...get(x), ...op.f32x4Mul, ...splat(1), ...get(th), ...op.f32x4Add, ...op.f32x4Mul];
}

/** 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 0.134145 x^2) (GELU's derivative), left on the stack in the GPU.js formula's order. */
function geluGradFromTanh(x: number, th: number): number[] {
  return [
    ...splat(0.5), ...splat(1), ...get(th), ...op.f32x4Add, ...op.f32x4Mul,
    ...splat(0.5), ...get(x), ...op.f32x4Mul, ...splat(1), ...get(th), ...get(th), ...op.f32x4Mul, ...op.f32x4Sub, ...op.f32x4Mul,
    ...splat(SQRT_2_OVER_PI), ...op.f32x4Mul, ...splat(1), ...splat(0.134145), ...get(x), ...op.f32x4Mul, ...get(x), ...op.f32x4Mul, ...op.f32x4Add, ...op.f32x4Mul,
    ...op.f32x4Add,
  ];
}

// ---- the kernels ------------------------------------------------------------

const TEMP_COUNT = 7;

/**
 * name(src..., dst..., vectors[, s: f32]): dst_k[i] = f_k(src[i]...) for
 * `vectors` vectors of 4 floats, a multiple of UNROLL. `body` computes the
 * output locals `out` (one per output) from the input locals; it is emitted
 * once per unrolled copy, each copy with its own locals.
 */
function mapKernel(
  name: string,
  inputs: number,
  hasScalar: boolean,
  body: (x: number[], out: number[], temps: Temps, scalar: number) => Statements,
  outputs = 1,
): FunctionSpec {
  const DST = inputs;
  const VECTORS = inputs + outputs;
  const SCALAR = VECTORS + 1;
  const firstLocal = VECTORS + 1 + (hasScalar ? 1 : 0);
  const [OFFSET, END] = [firstLocal, firstLocal + 1]; // i32
  const SPLAT = firstLocal + 2; // v128: the scalar in four lanes, then per copy: inputs, outputs, temps
  const perCopy = inputs + outputs + TEMP_COUNT;
  const copies = Array.from({ length: UNROLL }, (_, c) => {
    const first = SPLAT + 1 + c * perCopy;
    return {
      x: Array.from({ length: inputs }, (_, i) => first + i),
      out: Array.from({ length: outputs }, (_, k) => first + inputs + k),
      temps: { t: Array.from({ length: TEMP_COUNT }, (_, i) => first + inputs + outputs + i) },
    };
  });
  const code: number[] = [...get(VECTORS), ...op.i32Const(16), ...op.i32Mul, ...set(END), ...op.i32Const(0), ...set(OFFSET)];
  if (hasScalar) code.push(...get(SCALAR), ...op.f32x4Splat, ...set(SPLAT));
  code.push(...op.blockLoop, ...get(OFFSET), ...get(END), ...op.i32GeU, ...op.breakIfOutOfLoop);
  copies.forEach(({ x }, c) => x.forEach((local, i) => code.push(...get(i), ...get(OFFSET), ...op.i32Add, ...op.v128Load(16 * c), ...set(local))));
  code.push(...interleave(copies.map(({ x, out, temps }) => body(x, out, temps, SPLAT))));
  copies.forEach(({ out }, c) => out.forEach((local, k) => code.push(...get(DST + k), ...get(OFFSET), ...op.i32Add, ...get(local), ...op.v128Store(16 * c))));
  code.push(...get(OFFSET), ...op.i32Const(16 * UNROLL), ...op.i32Add, ...set(OFFSET), ...op.continueLoop, ...op.end, ...op.end);
  const params = [...new Array<number>(inputs + outputs + 1).fill(I32), ...(hasScalar ? [F32] : [])];
  return { name, params, locals: [[2, I32], [1 + UNROLL * perCopy, V128]], body: code };
}

const MAP_KERNELS: FunctionSpec[] = [
  mapKernel('exp', 1, false, ([x], [out], t) => emitExp(x, out, t)),
  mapKernel('tanh', 1, false, ([x], [out], t) => emitTanh(x, out, t)),
  // s tanh(x / s): the three roundings of tanh(x / s) * s
  mapKernel('softcap', 1, true, ([x], [out], t, s) => [[...get(x), ...get(s), ...op.f32x4Div, ...set(out)], ...emitTanh(out, out, t), [...get(out), ...get(s), ...op.f32x4Mul, ...set(out)]]),
  // its gradient from the output y and the incoming g: t = y / s; g (1 - t t), the GPU.js formula's float32 steps
  mapKernel('softcapGrad', 2, true, ([y, g], [out], _t, s) => [
    [...get(y), ...get(s), ...op.f32x4Div, ...set(out)],
    [...get(g), ...splat(1), ...get(out), ...get(out), ...op.f32x4Mul, ...op.f32x4Sub, ...op.f32x4Mul, ...set(out)],
  ]),
  // 0.5 x (1 + tanh(u))
  mapKernel('geluTanh', 1, false, ([x], [out], t) => [...emitGeluTanhOfInner(x, out, t), [...geluFromTanh(x, out), ...set(out)]]),
  // 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 0.134145 x^2)
  mapKernel('geluTanhGrad', 1, false, ([x], [out], t) => {
    const th = t.t[6];
    return [...emitGeluTanhOfInner(x, th, t), [...geluGradFromTanh(x, th), ...set(out)]];
  }),
  // gelu(a) b: geluTanh's instructions, then one multiply (so the bits of geluTanh followed by the mul kernel)
  mapKernel('geluTanhMul', 2, false, ([a, b], [out], t) => [...emitGeluTanhOfInner(a, out, t), [...geluFromTanh(a, out), ...get(b), ...op.f32x4Mul, ...set(out)]]),
  // the gradient of gelu(a) b, both halves from one tanh: da = (g b) gelu'(a), db = g gelu(a); the
  // instructions of geluTanh, geluTanhGrad and the mul kernel, so the bits of the rules of geluTanh and mul
  mapKernel(
    'geluTanhMulGrad',
    3,
    false,
    ([g, a, b], [da, db], t) => {
      const th = t.t[6];
      return [
        ...emitGeluTanhOfInner(a, th, t),
        [...get(g), ...geluFromTanh(a, th), ...op.f32x4Mul, ...set(db)],
        [...get(g), ...get(b), ...op.f32x4Mul, ...geluGradFromTanh(a, th), ...op.f32x4Mul, ...set(da)],
      ];
    },
    2,
  ),
];

/** For each unrolled copy c: an input local, and three exp temporaries, numbered from `first`. */
function copyLocals(first: number) {
  return Array.from({ length: UNROLL }, (_, c) => ({ x: first + 4 * c, temps: { t: [first + 4 * c + 1, first + 4 * c + 2, first + 4 * c + 3] } }));
}

/**
 * rowsMaxSumExp(src, maxes, sums, rows, vectorsPerRow): for each row r,
 * maxes[r] = m = max(row) and sums[r] = sum(exp(row - m)). rows is a multiple
 * of 4 and vectorsPerRow of UNROLL; rows are padded with -infinity. The sums
 * run four rows at a time, one row per lane: each 4 x 4 block of the rows is
 * transposed so that a vector holds one column of the four rows, and every
 * lane adds its row's exponentials in column order, in the cascade order of
 * sum-order.ts (so the order, not the bits, of the GPU.js kernel: its exp is
 * JavaScript's).
 */
function rowsMaxSumExpKernel(): FunctionSpec {
  const [SRC, MAXES, SUMS, ROWS, VECTORS] = [0, 1, 2, 3, 4];
  const [ROW, P, END, DONE, RUN_END, TERMS, P0] = [5, 6, 7, 8, 9, 10, 11]; // i32; P0..P0+3 walk the four rows
  const M = P0 + 4; // v128: the running max, then the four rows' maxes, the loaded rows, their columns, the sum and its levels, the exp temporaries
  const MS = M + 1;
  const ROWV = MS + 1;
  const COLV = ROWV + 4;
  const ACC = COLV + 4;
  const LEVELS: [number, number, number] = [ACC + 1, ACC + 2, ACC + 3];
  const TEMPS = ACC + 4;
  const lanes = (v: number, combine: number[]) => [
    ...get(v), ...op.f32x4ExtractLane(0), ...get(v), ...op.f32x4ExtractLane(1), ...combine,
    ...get(v), ...op.f32x4ExtractLane(2), ...get(v), ...op.f32x4ExtractLane(3), ...combine, ...combine,
  ];
  const rowBytes = [...get(VECTORS), ...op.i32Const(16), ...op.i32Mul];
  const code: number[] = [...get(VECTORS), ...op.i32Const(4), ...op.i32Mul, ...set(TERMS)];
  code.push(...op.i32Const(0), ...set(ROW), ...get(SRC), ...set(P), ...op.blockLoop, ...get(ROW), ...get(ROWS), ...op.i32GeU, ...op.breakIfOutOfLoop);
  // m = max over each of the four rows (max, not pmax: a NaN wins), stored to maxes[row + j]
  for (let j = 0; j < 4; j++) {
    code.push(...get(P), ...set(P0 + j), ...get(P), ...rowBytes, ...op.i32Add, ...set(END));
    code.push(...get(P), ...op.v128Load(0), ...set(M), ...get(P), ...op.i32Const(16), ...op.i32Add, ...set(P));
    code.push(...op.blockLoop, ...get(P), ...get(END), ...op.i32GeU, ...op.breakIfOutOfLoop);
    code.push(...get(M), ...get(P), ...op.v128Load(0), ...op.f32x4Max, ...set(M), ...get(P), ...op.i32Const(16), ...op.i32Add, ...set(P), ...op.continueLoop, ...op.end, ...op.end);
    code.push(...get(MAXES), ...get(ROW), ...op.i32Const(j), ...op.i32Add, ...op.i32Const(4), ...op.i32Mul, ...op.i32Add, ...lanes(M, op.f32Max), ...op.f32Store(0));
  }
  code.push(...get(MAXES), ...get(ROW), ...op.i32Const(4), ...op.i32Mul, ...op.i32Add, ...op.v128Load(0), ...set(MS));
  // the sums: four columns of the four rows per iteration, lane j = row j
  const copies = Array.from({ length: 4 }, (_, c) => ({ x: COLV + c, temps: { t: [TEMPS + 3 * c, TEMPS + 3 * c + 1, TEMPS + 3 * c + 2] } }));
  const iteration: number[] = [];
  for (let j = 0; j < 4; j++) iteration.push(...get(P0 + j), ...op.v128Load(0), ...set(ROWV + j), ...get(P0 + j), ...op.i32Const(16), ...op.i32Add, ...set(P0 + j));
  iteration.push(...transpose4x4(ROWV, COLV)); // ROWV + c = column c of the four rows
  iteration.push(...interleave(copies.map(({ x, temps }, c) => [[...get(ROWV + c), ...get(MS), ...op.f32x4Sub, ...set(x)], ...emitExp(x, x, temps)])));
  for (let c = 0; c < 4; c++) iteration.push(...get(ACC), ...get(COLV + c), ...op.f32x4Add, ...set(ACC));
  code.push(...cascadeLoop({ terms: TERMS, depth: 3, step: 4, done: DONE, runEnd: RUN_END, accumulators: [ACC], levels: [LEVELS], iteration }));
  code.push(...get(SUMS), ...get(ROW), ...op.i32Const(4), ...op.i32Mul, ...op.i32Add, ...get(LEVELS[2]), ...op.v128Store(0));
  code.push(...get(ROW), ...op.i32Const(4), ...op.i32Add, ...set(ROW), ...op.continueLoop, ...op.end, ...op.end);
  return { name: 'rowsMaxSumExp', params: 5, locals: [[10, I32], [TEMPS + 12 - M, V128]], body: code };
}

/**
 * rowsExpShift(src, shiftA, shiftB, scale, dst, rows, vectorsPerRow):
 * dst = exp((src - shiftA[r]) - shiftB[r]) * scale[r], one value of each per
 * row; vectorsPerRow is a multiple of UNROLL.
 */
function rowsExpShiftKernel(): FunctionSpec {
  const [SRC, SHIFT_A, SHIFT_B, SCALE, DST, ROWS, VECTORS] = [0, 1, 2, 3, 4, 5, 6];
  const [ROW, OFFSET, END] = [7, 8, 9]; // i32
  const [A, B, K] = [10, 11, 12]; // v128: the row's values, then per copy x and temps
  const copies = copyLocals(13);
  const perRow = (ptr: number, into: number) => [...get(ptr), ...get(ROW), ...op.i32Const(4), ...op.i32Mul, ...op.i32Add, ...op.v128Load32Splat(0), ...set(into)];
  const code: number[] = [...op.i32Const(0), ...set(ROW), ...op.i32Const(0), ...set(OFFSET), ...op.blockLoop, ...get(ROW), ...get(ROWS), ...op.i32GeU, ...op.breakIfOutOfLoop];
  code.push(...perRow(SHIFT_A, A), ...perRow(SHIFT_B, B), ...perRow(SCALE, K));
  code.push(...get(OFFSET), ...get(VECTORS), ...op.i32Const(16), ...op.i32Mul, ...op.i32Add, ...set(END));
  code.push(...op.blockLoop, ...get(OFFSET), ...get(END), ...op.i32GeU, ...op.breakIfOutOfLoop);
  code.push(
    ...interleave(
      copies.map(({ x, temps }, c) => [
        [...get(SRC), ...get(OFFSET), ...op.i32Add, ...op.v128Load(16 * c), ...get(A), ...op.f32x4Sub, ...get(B), ...op.f32x4Sub, ...set(x)],
        ...emitExp(x, x, temps),
        [...get(DST), ...get(OFFSET), ...op.i32Add, ...get(x), ...get(K), ...op.f32x4Mul, ...op.v128Store(16 * c)],
      ]),
    ),
  );
  code.push(...get(OFFSET), ...op.i32Const(16 * UNROLL), ...op.i32Add, ...set(OFFSET), ...op.continueLoop, ...op.end, ...op.end);
  code.push(...get(ROW), ...op.i32Const(1), ...op.i32Add, ...set(ROW), ...op.continueLoop, ...op.end, ...op.end);
  return { name: 'rowsExpShift', params: 7, locals: [[3, I32], [3 + 4 * UNROLL, V128]], body: code };
}

/**
 * rowsScaleCapMask(src, maskRows, rows, vectorsPerRow, scale, cap), in place:
 * x = (x scale) then, when built `capped`, cap tanh(x / cap), then x + mask
 * row, where maskRows holds one byte address per row (an i32 each: the mask
 * row that row reads). The instructions of the mulScalar, softcap and add
 * kernels, in their order, so the bits of attention's composed
 * mul(s, scaling), softcap and add (kernels/attention.ts).
 */
function rowsScaleCapMaskKernel(capped: boolean): FunctionSpec {
  const [SRC, MASK_ROWS, ROWS, VECTORS, SCALE, CAP] = [0, 1, 2, 3, 4, 5];
  const [ROW, OFFSET, END, MASK] = [6, 7, 8, 9]; // i32
  const [SCALE_V, CAP_V] = [10, 11]; // v128, then per copy: x and five tanh temporaries
  const copies = Array.from({ length: UNROLL }, (_, c) => {
    const first = 12 + 6 * c;
    return { x: first, temps: { t: [first + 1, first + 2, first + 3, first + 4, first + 5] } };
  });
  const code: number[] = [...get(SCALE), ...op.f32x4Splat, ...set(SCALE_V), ...get(CAP), ...op.f32x4Splat, ...set(CAP_V)];
  code.push(...op.i32Const(0), ...set(ROW), ...get(SRC), ...set(OFFSET), ...op.blockLoop, ...get(ROW), ...get(ROWS), ...op.i32GeU, ...op.breakIfOutOfLoop);
  code.push(...get(MASK_ROWS), ...get(ROW), ...op.i32Const(4), ...op.i32Mul, ...op.i32Add, ...op.i32Load(0), ...set(MASK));
  code.push(...get(OFFSET), ...get(VECTORS), ...op.i32Const(16), ...op.i32Mul, ...op.i32Add, ...set(END));
  code.push(...op.blockLoop, ...get(OFFSET), ...get(END), ...op.i32GeU, ...op.breakIfOutOfLoop);
  code.push(
    ...interleave(
      copies.map(({ x, temps }, c) => [
        [...get(OFFSET), ...op.v128Load(16 * c), ...get(SCALE_V), ...op.f32x4Mul, ...set(x)],
        ...(capped ? [[...get(x), ...get(CAP_V), ...op.f32x4Div, ...set(x)], ...emitTanh(x, x, temps), [...get(x), ...get(CAP_V), ...op.f32x4Mul, ...set(x)]] : []),
        [...get(OFFSET), ...get(x), ...get(MASK), ...op.v128Load(16 * c), ...op.f32x4Add, ...op.v128Store(16 * c)],
      ]),
    ),
  );
  code.push(...get(OFFSET), ...op.i32Const(16 * UNROLL), ...op.i32Add, ...set(OFFSET), ...get(MASK), ...op.i32Const(16 * UNROLL), ...op.i32Add, ...set(MASK), ...op.continueLoop, ...op.end, ...op.end);
  code.push(...get(ROW), ...op.i32Const(1), ...op.i32Add, ...set(ROW), ...op.continueLoop, ...op.end, ...op.end);
  return { name: capped ? 'rowsScaleCapMask' : 'rowsScaleMask', params: [I32, I32, I32, I32, F32, F32], locals: [[4, I32], [2 + 6 * UNROLL, V128]], body: code };
}

// ---- host side --------------------------------------------------------------

/** The element-wise formulas (kernels/elementwise.ts) with a SIMD kernel: one output each. */
export type SimdMapOp = 'exp' | 'tanh' | 'softcap' | 'softcapGrad' | 'geluTanh' | 'geluTanhGrad' | 'geluTanhMul';
export const SIMD_MAP_OPS: readonly SimdMapOp[] = ['exp', 'tanh', 'softcap', 'softcapGrad', 'geluTanh', 'geluTanhGrad', 'geluTanhMul'];
/** Map kernels with more than one output, and how many. */
const MULTI_OUTPUT_MAPS = { geluTanhMulGrad: 2 } as const;
type MultiOutputMap = keyof typeof MULTI_OUTPUT_MAPS;

/** (src..., dst, vectors[, scalar]) */
type MapFn = (...args: number[]) => void;
interface Kernels {
  maps: Record<SimdMapOp | MultiOutputMap, MapFn>;
  rowsMaxSumExp: (src: number, maxes: number, sums: number, rows: number, vectors: number) => void;
  rowsExpShift: (src: number, shiftA: number, shiftB: number, scale: number, dst: number, rows: number, vectors: number) => void;
  rowsScaleCapMask: (src: number, maskRows: number, rows: number, vectors: number, scale: number, cap: number) => void;
  rowsScaleMask: (src: number, maskRows: number, rows: number, vectors: number, scale: number, cap: number) => void;
}

let kernels: Kernels | null = null;

function getKernels(): Kernels {
  if (kernels === null) {
    const functions = [...MAP_KERNELS, rowsMaxSumExpKernel(), rowsExpShiftKernel(), rowsScaleCapMaskKernel(true), rowsScaleCapMaskKernel(false)];
    const module = new wasm.Module(buildModule(functions, MAX_PAGES));
    registerModule(module, functions.map((f) => f.name));
    const exports = new wasm.Instance(module, { env: { memory: sharedMemory() } }).exports as Record<string, never>;
    const maps = Object.fromEntries([...SIMD_MAP_OPS, ...Object.keys(MULTI_OUTPUT_MAPS)].map((name) => [name, exports[name] as MapFn]));
    kernels = {
      maps: maps as Record<SimdMapOp | MultiOutputMap, MapFn>,
      rowsMaxSumExp: exports.rowsMaxSumExp,
      rowsExpShift: exports.rowsExpShift,
      rowsScaleCapMask: exports.rowsScaleCapMask,
      rowsScaleMask: exports.rowsScaleMask,
    };
  }
  return kernels;
}

/** Whether this engine compiles the module (WebAssembly SIMD with shared memory). */
export const isVectorMathAvailable = (): boolean => compiles(getKernels);

/** Arrays below this many elements stay on the main thread (a hand-off costs tens of microseconds). */
const THREADING_THRESHOLD = 1 << 16;

/** dst_k = op_k(src) element by element, `outputs` arrays (softcap takes the cap as `scalar`). */
function mapChunk(name: SimdMapOp | MultiOutputMap, sources: TypedData[], scalar?: number, outputs = 1): Float32Array[] {
  const n = sources[0].length;
  const padded = roundUp(n, 4 * UNROLL);
  const { memory, base } = scratch((sources.length + outputs) * padded);
  sources.forEach((src, i) => {
    memory.set(src, base + i * padded);
    memory.fill(0, base + i * padded + n, base + (i + 1) * padded);
  });
  const dst = Array.from({ length: outputs }, (_, k) => base + (sources.length + k) * padded);
  const map = getKernels().maps[name];
  // ranges count groups of UNROLL vectors
  const group = 4 * UNROLL;
  const args = (first: number, end: number) => [
    ...sources.map((_, i) => 4 * (base + i * padded + group * first)),
    ...dst.map((at) => 4 * (at + group * first)),
    (end - first) * UNROLL,
    ...(scalar === undefined ? [] : [scalar]),
  ];
  parallel(padded / group, n >= THREADING_THRESHOLD, (first, end) => [{ fn: name, args: args(first, end) }], (first, end) => map(...args(first, end)));
  return dst.map((at) => copyOut(memory, at, n));
}

/** A fresh array of n floats from wasm memory (slice() on shared memory is 2x slower than this). */
function copyOut(memory: Float32Array, at: number, n: number): Float32Array {
  const out = outputArray(n);
  out.set(memory.subarray(at, at + n));
  return out;
}

/**
 * Copies `rows` rows of `length` values into scratch at `at`, each padded to a
 * whole number of vectors with `fill`; returns the padded row length.
 */
function copyRows(memory: Float32Array, at: number, data: TypedData, rows: number, length: number, fill: number): number {
  const stride = rowStride(length);
  if (stride === length) {
    memory.set(data.subarray(0, rows * length), at);
    return stride;
  }
  for (let r = 0; r < rows; r++) {
    memory.set(data.subarray(r * length, (r + 1) * length), at + r * stride);
    memory.fill(fill, at + r * stride + length, at + (r + 1) * stride);
  }
  return stride;
}

/** Floats per padded row: a whole number of unrolled groups of vectors. */
const rowStride = (length: number) => roundUp(length, 4 * UNROLL);

/** Copies padded rows at `at` back out as a dense [rows, length] array. */
function readRows(memory: Float32Array, at: number, rows: number, length: number, stride: number): Float32Array {
  if (stride === length) return copyOut(memory, at, rows * length);
  const out = outputArray(rows * length);
  for (let r = 0; r < rows; r++) out.set(memory.subarray(at + r * stride, at + r * stride + length), r * length);
  return out;
}

/**
 * Per row of [rows, length]: m = max(row) and log(sum(exp(x - m))), both
 * float32 (NaN for a row whose max is not finite). The rows stay in scratch at `at` (padded to `stride`), followed
 * by room for 3 values per row and `extra` more floats.
 */
function maxAndLogSum(data: TypedData, rows: number, length: number, extra: number) {
  const stride = rowStride(length);
  const paddedRows = roundUp(rows, 4); // the kernel sums four rows at a time; the extra rows are zeros
  const perRow = roundUp(3 * rows, 4);
  const maxesAt = roundUp(paddedRows * stride, 4);
  const sumsAt = maxesAt + paddedRows;
  const { memory, base: at } = scratch(sumsAt + paddedRows + perRow + extra);
  copyRows(memory, at, data, rows, length, -Infinity);
  memory.fill(0, at + rows * stride, at + paddedRows * stride);
  const { max, logSum } = rowStatistics(memory, at, rows, stride, at + maxesAt, at + sumsAt);
  const pairs = at + sumsAt + paddedRows;
  return { memory, at, stride, perRowAt: pairs, outAt: pairs + perRow, max, logSum };
}

/**
 * rowsMaxSumExp over padded rows already in scratch at `at` (rows padded to a
 * multiple of 4 with zero rows), then each row's m and log(sum(exp(x - m)))
 * on the host; maxesAt and sumsAt hold room for the padded rows (floats).
 */
function rowStatistics(memory: Float32Array, at: number, rows: number, stride: number, maxesAt: number, sumsAt: number): { max: Float32Array; logSum: Float32Array } {
  const k = getKernels();
  const paddedRows = roundUp(rows, 4);
  // ranges count groups of four rows
  const args = (first: number, end: number) => [4 * (at + 4 * first * stride), 4 * (maxesAt + 4 * first), 4 * (sumsAt + 4 * first), 4 * (end - first), stride / 4];
  type Args = Parameters<Kernels['rowsMaxSumExp']>;
  parallel(paddedRows / 4, rows * stride >= THREADING_THRESHOLD, (first, end) => [{ fn: 'rowsMaxSumExp', args: args(first, end) }], (first, end) => k.rowsMaxSumExp(...(args(first, end) as Args)));
  const max = memory.slice(maxesAt, maxesAt + rows);
  const logSum = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    // a NaN or +inf makes the whole softmax row NaN, as in PyTorch (an all -inf row is NaN through x - m)
    logSum[r] = Number.isFinite(max[r]) ? Math.log(memory[sumsAt + r]) : NaN;
  }
  return { max, logSum };
}

/** rowsExpShift over rows split across threads; every address in floats. */
function runExpShift(src: number, shiftA: number, shiftB: number, scale: number, dst: number, rows: number, stride: number): void {
  const k = getKernels();
  const args = (first: number, end: number) => [4 * (src + first * stride), 4 * (shiftA + first), 4 * (shiftB + first), 4 * (scale + first), 4 * (dst + first * stride), end - first, stride / 4];
  type Args = Parameters<Kernels['rowsExpShift']>;
  parallel(rows, rows * stride >= THREADING_THRESHOLD, (first, end) => [{ fn: 'rowsExpShift', args: args(first, end) }], (first, end) => k.rowsExpShift(...(args(first, end) as Args)));
}

/** log(sum(exp(row))) for each row of a contiguous [rows, length] array (length >= 1). */
function logSumExpChunk(data: TypedData, rows: number, length: number): Float32Array {
  const { max, logSum } = maxAndLogSum(data, rows, length, 0);
  // m + log(sum): -inf for an all -inf row, +inf for a row holding +inf, NaN for NaN
  return max.map((m, r) => (Number.isFinite(m) ? m + logSum[r] : m));
}

/**
 * Softmax of each row: exp((x - m) - log(sum(exp(x - m)))), the two terms
 * rounded on their own scales (lib/ops/softmax.ts explains why). A fully
 * masked row (all -inf) is NaN, as in PyTorch.
 */
function softmaxChunk(data: TypedData, rows: number, length: number): Float32Array {
  const stride = rowStride(length);
  const { memory, at, perRowAt, outAt, max, logSum } = maxAndLogSum(data, rows, length, rows * stride);
  // the per-row values replace the pairs: [max][logSum][scale = 1]
  memory.set(max, perRowAt);
  memory.set(logSum, perRowAt + rows);
  memory.fill(1, perRowAt + 2 * rows, perRowAt + 3 * rows);
  runExpShift(at, perRowAt, perRowAt + rows, perRowAt + 2 * rows, outAt, rows, stride);
  return readRows(memory, outAt, rows, length, stride);
}

/**
 * Attention's rows, scores to probabilities: softmax(cap tanh((s scale) / cap)
 * + mask) along each row (no cap: softmax(s scale + mask)), row r adding mask
 * row maskRowOf[r]. One pass scales, caps and adds the mask in place
 * (rowsScaleCapMask), then the softmax kernels of softmaxChunk run on the
 * same scratch: the bits of mulScalar, softcap, add and softmax.rows one after
 * another, without three copies in and out of wasm memory. Rows and mask rows
 * are padded with -infinity, which every step keeps -infinity.
 */
function attentionRowsChunk(scores: TypedData, rows: number, length: number, mask: TypedData, maskRowOf: Int32Array, scale: number, cap: number | null): Float32Array {
  const stride = rowStride(length);
  const paddedRows = roundUp(rows, 4);
  let [lo, hi] = [maskRowOf[0], maskRowOf[0]];
  for (let r = 1; r < rows; r++) [lo, hi] = [Math.min(lo, maskRowOf[r]), Math.max(hi, maskRowOf[r])];
  const maskRows = hi - lo + 1; // only the mask rows this chunk reads
  const maxesAt = paddedRows * stride;
  const sumsAt = maxesAt + paddedRows;
  const perRowAt = sumsAt + paddedRows;
  const maskAt = perRowAt + roundUp(3 * rows, 4);
  const offsetsAt = maskAt + maskRows * stride;
  const outAt = offsetsAt + paddedRows;
  const { memory, base } = scratch(outAt + rows * stride);
  copyRows(memory, base, scores, rows, length, -Infinity);
  memory.fill(0, base + rows * stride, base + paddedRows * stride);
  copyRows(memory, base + maskAt, mask.subarray(lo * length, (hi + 1) * length) as TypedData, maskRows, length, -Infinity);
  const offsets = new Int32Array(memory.buffer, 4 * (base + offsetsAt), rows);
  for (let r = 0; r < rows; r++) offsets[r] = 4 * (base + maskAt + (maskRowOf[r] - lo) * stride);
  const k = getKernels();
  const fn = cap === null ? 'rowsScaleMask' : 'rowsScaleCapMask';
  const args = (first: number, end: number) => [4 * (base + first * stride), 4 * (base + offsetsAt + first), end - first, stride / 4, scale, cap ?? 1];
  type Args = Parameters<Kernels['rowsScaleCapMask']>;
  parallel(rows, rows * stride >= THREADING_THRESHOLD, (first, end) => [{ fn, args: args(first, end) }], (first, end) => k[fn](...(args(first, end) as Args)));
  const { max, logSum } = rowStatistics(memory, base, rows, stride, base + maxesAt, base + sumsAt);
  memory.set(max, base + perRowAt);
  memory.set(logSum, base + perRowAt + rows);
  memory.fill(1, base + perRowAt + 2 * rows, base + perRowAt + 3 * rows);
  runExpShift(base, base + perRowAt, base + perRowAt + rows, base + perRowAt + 2 * rows, base + outAt, rows, stride);
  return readRows(memory, base + outAt, rows, length, stride);
}

/**
 * dst[r][c] = scale[r] * exp(x[r][c] - shift[r]) over [rows, length]: the
 * softmax-minus-one-hot of the cross-entropy gradient before its target fix-up.
 */
function scaledExpShiftChunk(data: TypedData, rows: number, length: number, shift: TypedData, scale: TypedData): Float32Array {
  const stride = rowStride(length);
  const perRow = rows * stride;
  const out = roundUp(perRow + 3 * rows, 4);
  const { memory, base } = scratch(out + rows * stride);
  copyRows(memory, base, data, rows, length, 0);
  memory.set(shift, base + perRow);
  memory.fill(0, base + perRow + rows, base + perRow + 2 * rows);
  memory.set(scale, base + perRow + 2 * rows);
  const p = base + perRow;
  runExpShift(base, p, p + rows, p + 2 * rows, base + out, rows, stride);
  return readRows(memory, base + out, rows, length, stride);
}

// ---- the entry points: big arrays in pieces that fit the scratch limit ----

/**
 * Values of input one call copies into scratch at most (its output needs as
 * many again): a logit tensor of gemma-2-2b's vocabulary can pass 500M
 * values, and wasm32 memory ends at 4 GiB, resident weights included.
 */
export const vectorMathLimits = { maxChunkValues: 32 * 2 ** 20 };

/** Runs `chunk` over row ranges of at most maxChunkValues values each and joins the outputs. */
function inRowChunks(rows: number, valuesPerRow: number, outPerRow: number, chunk: (first: number, end: number) => Float32Array): Float32Array {
  const rowsPerChunk = Math.max(1, Math.floor(vectorMathLimits.maxChunkValues / Math.max(1, valuesPerRow)));
  if (rowsPerChunk >= rows) return chunk(0, rows);
  const out = outputArray(rows * outPerRow);
  for (let first = 0; first < rows; first += rowsPerChunk) {
    const end = Math.min(rows, first + rowsPerChunk);
    out.set(chunk(first, end), first * outPerRow);
  }
  return out;
}

/** dst = op(sources...) element by element, over same-length sources (softcap and its gradient take the cap as `scalar`). */
export function simdMap(name: SimdMapOp, sources: TypedData[], scalar?: number): Float32Array {
  return mapInPieces(name, sources, 1, scalar)[0];
}

/**
 * The gradient of gelu(a) b from the incoming g, in one pass over g, a, b:
 * [da, db] = [(g b) gelu'(a), g gelu(a)].
 */
export function simdGeluTanhMulGrad(g: TypedData, a: TypedData, b: TypedData): [Float32Array, Float32Array] {
  const [da, db] = mapInPieces('geluTanhMulGrad', [g, a, b], MULTI_OUTPUT_MAPS.geluTanhMulGrad);
  return [da, db];
}

/**
 * mapChunk over pieces of at most maxChunkValues values, fewer when the call
 * has more than three arrays, so scratch never holds more than three
 * maxChunkValues arrays' worth.
 */
function mapInPieces(name: SimdMapOp | MultiOutputMap, sources: TypedData[], outputs: number, scalar?: number): Float32Array[] {
  const piece = Math.max(1, Math.floor(vectorMathLimits.maxChunkValues * Math.min(1, 3 / (sources.length + outputs))));
  const n = sources[0].length;
  if (n <= piece) return mapChunk(name, sources, scalar, outputs);
  const out = Array.from({ length: outputs }, () => outputArray(n));
  for (let start = 0; start < n; start += piece) {
    const end = Math.min(n, start + piece);
    mapChunk(name, sources.map((src) => src.subarray(start, end) as TypedData), scalar, outputs).forEach((part, k) => out[k].set(part, start));
  }
  return out;
}

/** log(sum(exp(row))) for each row of a contiguous [rows, length] array (length >= 1). */
export function simdLogSumExpRows(data: TypedData, rows: number, length: number): Float32Array {
  return inRowChunks(rows, length, 1, (first, end) => logSumExpChunk(data.subarray(first * length, end * length) as TypedData, end - first, length));
}

/** Softmax of each row of a contiguous [rows, length] array (see softmaxChunk). */
export function simdSoftmaxRows(data: TypedData, rows: number, length: number): Float32Array {
  return inRowChunks(rows, length, length, (first, end) => softmaxChunk(data.subarray(first * length, end * length) as TypedData, end - first, length));
}

/** dst[r][c] = scale[r] * exp(x[r][c] - shift[r]) over [rows, length] (see scaledExpShiftChunk). */
export function simdScaledExpShiftRows(data: TypedData, rows: number, length: number, shift: TypedData, scale: TypedData): Float32Array {
  return inRowChunks(rows, length, length, (first, end) =>
    scaledExpShiftChunk(data.subarray(first * length, end * length) as TypedData, end - first, length, shift.subarray(first, end) as TypedData, scale.subarray(first, end) as TypedData),
  );
}

/**
 * Attention's probabilities from its scores [rows, length]: see
 * attentionRowsChunk. mask is [maskRows, length]; row r reads mask row
 * maskRowOf[r].
 */
export function simdAttentionRows(scores: TypedData, rows: number, length: number, mask: TypedData, maskRowOf: Int32Array, scale: number, cap: number | null): Float32Array {
  // the chunk holds its rows, their output and the mask rows they read: room for about three arrays
  return inRowChunks(rows, 3 * length, length, (first, end) =>
    attentionRowsChunk(scores.subarray(first * length, end * length) as TypedData, end - first, length, mask, maskRowOf.subarray(first, end), scale, cap),
  );
}

/**
 * cap tanh(x / cap) in place on `count` floats of wasm memory at `at` (a
 * multiple of 16: the caller owns the floats up to there): the softcap map
 * kernel's bits, on a product's C before it is copied out (wasm/gemm.ts).
 */
export function simdSoftcapInPlace(at: number, count: number, cap: number): void {
  const map = getKernels().maps.softcap;
  const group = 4 * UNROLL;
  const args = (first: number, end: number) => [4 * (at + group * first), 4 * (at + group * first), (end - first) * UNROLL, cap];
  parallel(count / group, count >= THREADING_THRESHOLD, (first, end) => [{ fn: 'softcap', args: args(first, end) }], (first, end) => map(...args(first, end)));
}
