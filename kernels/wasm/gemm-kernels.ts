// The SIMD matrix-product microkernels, emitted as WebAssembly bytecode by
// module-builder.ts; gemm-plan.ts decides which one a product runs, gemm.ts
// calls them.
//
// Why: GPU.js's generated code gives each thread one output cell, so every
// product re-reads its operands K times per cell through scalar loads and
// runs at 0.4-1.0 GFLOP/s here. The classic register-blocked kernel computes
// a 4 x 8 block of C in eight 4-lane accumulators:
//   for k: b0, b1 = B[k][j..j+4), B[k][j+4..j+8)       (one panel row)
//          for r < 4: a = splat(A[i+r][k]); acc[r][0] += a b0; acc[r][1] += a b1
// which keeps every loaded value busy for 8 multiply-adds and runs at 30-40
// GFLOP/s on one core of this machine (npm run bench:ops). Each output is still
// a plain float32 sum over k in order, like the GPU.js kernel's.
//
// Decoding multiplies one row (or a few) by a weight [N, K]: packing the
// weight would cost more than the product. gemv_nt<R> instead reads four
// weight rows at once, transposes each 4 x 4 block in registers (eight
// shuffles) and accumulates lane n = W[n] . x in k order, so the sums are
// again the GPU.js kernel's, bit for bit.
//
// Weights kept in bfloat16 (lib/tensor/dtype.ts) are read by the _bf16
// variants of gemv_nt and of the packing kernels, which widen four weights
// per load (widenBf16x4: 8 bytes, each 16-bit value shifted into a float32's
// high half) and otherwise run the float32 kernels' instructions in the same
// order: the same sums of the same float32 values, bit for bit, from half the
// bytes. The blocked kernels read packed panels, already float32; products
// that would read a bfloat16 B in place with them pack it instead (gemm-plan.ts).

import { I32, V128, buildModule, op, widenBf16x4, type FunctionSpec } from './module-builder.ts';
import { MAX_PAGES, sharedMemory, wasm } from './memory.ts';
import { registerModule } from './threads.ts';
import { CASCADE_DEPTHS, type CascadeDepth, cascadeLoop, cascadeResult } from './cascade.ts';
import { transpose4x4 } from './transpose.ts';
import { PANEL, WIDE_PANEL } from './gemm-plan.ts';

const get = op.localGet;
const set = op.localSet;

/**
 * gemm_rows<R>(a, b, c, blocks, k, lda, ldc, aStepK, ldb, panels, panelStride):
 * for each of `panels` panels and `blocks` blocks of R rows,
 * C[R rows][8] = A[R rows][k] x panel[k][8]. a, b, c are byte addresses of
 * the first panel; lda and ldc are row strides, aStepK the step from A[r][k]
 * to A[r][k+1], ldb from one panel row to the next and panelStride from one
 * panel to the next, all in bytes; C moves 8 columns per panel.
 * gemm_rows1_wide: the same over panels of 32 columns (8 vectors), for B read
 * in place by one to four rows of A (a decode step's x B): eight independent
 * sums per k keep the adder busy where two wait on each other.
 */
function gemmKernel(rows: number, vectors: number, depth: CascadeDepth): FunctionSpec {
  const [A, B, C, BLOCKS, K, LDA, LDC, A_STEP, LDB, PANELS, PANEL_STRIDE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; // parameters
  const [BLOCK, DONE, AP, BP, P, RUN_END] = [11, 12, 13, 14, 15, 16]; // i32 locals
  const ACC = 17; // vectors * rows v128 accumulators, then one B vector per column group, then a, then the cascade's levels
  const BV = ACC + vectors * rows;
  const AV = BV + vectors;
  const LEVELS = AV + 1;
  const accumulators = Array.from({ length: vectors * rows }, (_, v) => ACC + v);
  const levels = accumulators.map((_, v) => Array.from({ length: depth }, (_, l) => LEVELS + depth * v + l));
  const rowAddress = (base: number, stride: number, r: number) => (r === 0 ? get(base) : [...get(base), ...get(stride), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add]);
  // for p < panels: (the blocks of this panel) ; b += panelStride ; c += the panel's columns
  const body: number[] = [...op.i32Const(0), ...set(P), ...op.blockLoop, ...get(P), ...get(PANELS), ...op.i32GeU, ...op.breakIfOutOfLoop];
  body.push(...op.i32Const(0), ...set(BLOCK), ...op.blockLoop);
  body.push(...get(BLOCK), ...get(BLOCKS), ...op.i32GeU, ...op.breakIfOutOfLoop);
  // ap = a + block * rows * lda ; bp = b
  body.push(...get(A), ...get(BLOCK), ...op.i32Const(rows), ...op.i32Mul, ...get(LDA), ...op.i32Mul, ...op.i32Add, ...set(AP));
  body.push(...get(B), ...set(BP));
  // one k: a panel row of B, and per row of A its k-th value times it
  const iteration: number[] = [];
  for (let j = 0; j < vectors; j++) iteration.push(...get(BP), ...op.v128Load(16 * j), ...set(BV + j));
  for (let r = 0; r < rows; r++) {
    iteration.push(...rowAddress(AP, LDA, r), ...op.v128Load32Splat(0), ...set(AV));
    for (let j = 0; j < vectors; j++) {
      const acc = ACC + vectors * r + j;
      iteration.push(...get(acc), ...get(AV), ...get(BV + j), ...op.f32x4Mul, ...op.f32x4Add, ...set(acc));
    }
  }
  iteration.push(...get(AP), ...get(A_STEP), ...op.i32Add, ...set(AP)); // next k along A
  iteration.push(...get(BP), ...get(LDB), ...op.i32Add, ...set(BP)); // next panel row
  const cascade = { terms: K, depth, step: 1, done: DONE, runEnd: RUN_END, accumulators, levels, iteration };
  body.push(...cascadeLoop(cascade));
  // store the block: c + block * rows * ldc + r * ldc
  for (let r = 0; r < rows; r++) {
    body.push(...get(C), ...get(BLOCK), ...op.i32Const(rows), ...op.i32Mul, ...get(LDC), ...op.i32Mul, ...op.i32Add);
    if (r > 0) body.push(...get(LDC), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add);
    body.push(...op.localTee(AP));
    for (let j = 0; j < vectors; j++) body.push(...(j > 0 ? get(AP) : []), ...get(cascadeResult(cascade, vectors * r + j)), ...op.v128Store(16 * j));
  }
  body.push(...get(BLOCK), ...op.i32Const(1), ...op.i32Add, ...set(BLOCK), ...op.continueLoop, ...op.end, ...op.end);
  body.push(...get(B), ...get(PANEL_STRIDE), ...op.i32Add, ...set(B), ...get(C), ...op.i32Const(16 * vectors), ...op.i32Add, ...set(C));
  body.push(...get(P), ...op.i32Const(1), ...op.i32Add, ...set(P), ...op.continueLoop, ...op.end, ...op.end);
  return { name: gemmName(rows, vectors === WIDE_PANEL / 4, depth), params: 11, locals: [[6, I32], [(1 + depth) * vectors * rows + vectors + 1, V128]], body };
}

/**
 * gemv_nt<R>(a, w, c, blocks, k, lda, ldw, ldc): C[r][4j..4j+4) = A[r] . W[4j..4j+4)
 * for R rows of A and `blocks` blocks of four weight rows; k a multiple of 4.
 * ldw in bytes.
 *
 * With `bf16` (gemv_nt<R>_d<depth>_bf16), W holds bfloat16 bits and k is a
 * multiple of 8: each turn loads 16 bytes (eight weights) of each of the
 * four rows and transposes them as 32-bit lanes, so that lane n of vector m
 * holds the pair W[n][k + 2m], W[n][k + 2m + 1] (low and high half). Shifting
 * a lane left by 16 gives the first as a float32, masking off its low half
 * gives the second: two instructions widen eight weights, and the shuffles
 * are half the float32 kernel's per weight. The terms are added in k order as
 * in the float32 kernel, so the sums are the same, bit for bit.
 */
function gemvKernel(rows: number, depth: CascadeDepth, bf16: boolean): FunctionSpec {
  const [A, W, C, BLOCKS, K, LDA, LDW, LDC] = [0, 1, 2, 3, 4, 5, 6, 7]; // parameters
  const [BLOCK, DONE, AP, RUN_END, P0] = [8, 9, 10, 11, 12]; // i32 locals; P0..P0+3 point into the four weight rows
  const ROW = P0 + 4; // v128: the four loaded rows, the four transposed columns, the accumulators, a, the cascade's levels
  const COL = ROW + 4;
  const ACC = COL + 4;
  const AV = ACC + rows;
  const LEVELS = AV + 1;
  const WIDE = LEVELS + depth * rows; // bf16 only: the widened column, and the mask of a lane's high half
  const MASK = WIDE + 1;
  const accumulators = Array.from({ length: rows }, (_, r) => ACC + r);
  const levels = accumulators.map((_, r) => Array.from({ length: depth }, (_, l) => LEVELS + depth * r + l));
  const body: number[] = bf16 ? [...op.i32x4Const(0xffff0000 | 0), ...set(MASK)] : [];
  body.push(...op.i32Const(0), ...set(BLOCK), ...op.blockLoop);
  body.push(...get(BLOCK), ...get(BLOCKS), ...op.i32GeU, ...op.breakIfOutOfLoop);
  // p_j = w + (4 block + j) ldw
  for (let j = 0; j < 4; j++) {
    body.push(...get(W), ...get(BLOCK), ...op.i32Const(4), ...op.i32Mul, ...op.i32Const(j), ...op.i32Add, ...get(LDW), ...op.i32Mul, ...op.i32Add, ...set(P0 + j));
  }
  body.push(...get(A), ...set(AP));
  /** acc[r] += A[r][k + t] * (the column in local `column`). */
  const multiplyAdd = (r: number, t: number, column: number) => [
    ...get(AP), ...(r > 0 ? [...get(LDA), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add] : []), ...op.v128Load32Splat(4 * t), ...set(AV),
    ...get(ACC + r), ...get(AV), ...get(column), ...op.f32x4Mul, ...op.f32x4Add, ...set(ACC + r),
  ];
  const iteration: number[] = [];
  for (let j = 0; j < 4; j++) iteration.push(...get(P0 + j), ...op.v128Load(0), ...set(ROW + j));
  iteration.push(...transpose4x4(ROW, COL));
  if (!bf16) {
    // four k at a time: lane n of ROW + j holds W[n][k + j], added in k order
    for (let r = 0; r < rows; r++) for (let j = 0; j < 4; j++) iteration.push(...multiplyAdd(r, j, ROW + j));
  } else {
    // eight k at a time: lane n of ROW + m holds bf16 W[n][k + 2m] (low half) and W[n][k + 2m + 1] (high half)
    for (let m = 0; m < 4; m++) {
      iteration.push(...get(ROW + m), ...op.i32Const(16), ...op.i32x4Shl, ...set(WIDE));
      for (let r = 0; r < rows; r++) iteration.push(...multiplyAdd(r, 2 * m, WIDE));
      iteration.push(...get(ROW + m), ...get(MASK), ...op.v128And, ...set(WIDE));
      for (let r = 0; r < rows; r++) iteration.push(...multiplyAdd(r, 2 * m + 1, WIDE));
    }
  }
  const perTurn = bf16 ? 8 : 4; // k per turn; 16 bytes of each weight row either way
  for (let j = 0; j < 4; j++) iteration.push(...get(P0 + j), ...op.i32Const(16), ...op.i32Add, ...set(P0 + j));
  iteration.push(...get(AP), ...op.i32Const(4 * perTurn), ...op.i32Add, ...set(AP));
  const cascade = { terms: K, depth, step: perTurn, done: DONE, runEnd: RUN_END, accumulators, levels, iteration };
  body.push(...cascadeLoop(cascade));
  // c + r ldc + 16 block
  for (let r = 0; r < rows; r++) {
    body.push(...get(C), ...get(LDC), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add, ...get(BLOCK), ...op.i32Const(16), ...op.i32Mul, ...op.i32Add, ...get(cascadeResult(cascade, r)), ...op.v128Store(0));
  }
  body.push(...get(BLOCK), ...op.i32Const(1), ...op.i32Add, ...set(BLOCK), ...op.continueLoop, ...op.end, ...op.end);
  return { name: gemvName(rows, depth, bf16), params: 8, locals: [[8, I32], [8 + rows + 1 + depth * rows + (bf16 ? 2 : 0), V128]], body };
}

/**
 * pack_nn(src, dst, k, ldsrc, panels): panel p of a [K, N] matrix, the 8
 * columns 8p..8p+8 of every row, to dst + p K 8 floats. ldsrc: bytes per row.
 * pack_nn_bf16: the same from bfloat16 bits, widened while packing.
 */
function packNNKernel(bf16: boolean): FunctionSpec {
  const bytes = bf16 ? 2 : 4;
  const [SRC, DST, K, LD, PANELS] = [0, 1, 2, 3, 4];
  const [P, KK, S, D] = [5, 6, 7, 8];
  const body: number[] = [...op.i32Const(0), ...set(P), ...op.blockLoop, ...get(P), ...get(PANELS), ...op.i32GeU, ...op.breakIfOutOfLoop];
  body.push(...get(SRC), ...get(P), ...op.i32Const(bytes * PANEL), ...op.i32Mul, ...op.i32Add, ...set(S));
  body.push(...get(DST), ...get(P), ...get(K), ...op.i32Mul, ...op.i32Const(4 * PANEL), ...op.i32Mul, ...op.i32Add, ...set(D));
  body.push(...op.i32Const(0), ...set(KK), ...op.blockLoop, ...get(KK), ...get(K), ...op.i32GeU, ...op.breakIfOutOfLoop);
  const load = (half: number) => (bf16 ? widenBf16x4(8 * half) : op.v128Load(16 * half));
  body.push(...get(D), ...get(S), ...load(0), ...op.v128Store(0), ...get(D), ...get(S), ...load(1), ...op.v128Store(16));
  body.push(...get(S), ...get(LD), ...op.i32Add, ...set(S), ...get(D), ...op.i32Const(4 * PANEL), ...op.i32Add, ...set(D));
  body.push(...get(KK), ...op.i32Const(1), ...op.i32Add, ...set(KK), ...op.continueLoop, ...op.end, ...op.end);
  body.push(...get(P), ...op.i32Const(1), ...op.i32Add, ...set(P), ...op.continueLoop, ...op.end, ...op.end);
  return { name: bf16 ? 'pack_nn_bf16' : 'pack_nn', params: 5, locals: [[4, I32]], body };
}

/**
 * pack_nt(src, dst, k, ldsrc, panels): panel p of W^T for W [N, K] (k a
 * multiple of 4): rows 8p..8p+8 of W become the 8 columns of the panel,
 * through 4 x 4 register transposes. ldsrc: bytes per row of W.
 * pack_nt_bf16: the same from bfloat16 bits, widened while packing.
 */
function packNTKernel(bf16: boolean): FunctionSpec {
  const [SRC, DST, K, LD, PANELS] = [0, 1, 2, 3, 4];
  const [P, KK, D, ROW0] = [5, 6, 7, 8]; // ROW0..ROW0+7: pointers into the panel's 8 rows
  const V = 16; // v128: 4 loaded rows, 4 shuffled
  const body: number[] = [...op.i32Const(0), ...set(P), ...op.blockLoop, ...get(P), ...get(PANELS), ...op.i32GeU, ...op.breakIfOutOfLoop];
  for (let j = 0; j < PANEL; j++) {
    body.push(...get(SRC), ...get(P), ...op.i32Const(PANEL), ...op.i32Mul, ...op.i32Const(j), ...op.i32Add, ...get(LD), ...op.i32Mul, ...op.i32Add, ...set(ROW0 + j));
  }
  body.push(...get(DST), ...get(P), ...get(K), ...op.i32Mul, ...op.i32Const(4 * PANEL), ...op.i32Mul, ...op.i32Add, ...set(D));
  body.push(...op.i32Const(0), ...set(KK), ...op.blockLoop, ...get(KK), ...get(K), ...op.i32GeU, ...op.breakIfOutOfLoop);
  for (const half of [0, 1]) {
    for (let j = 0; j < 4; j++) body.push(...get(ROW0 + 4 * half + j), ...(bf16 ? widenBf16x4(0) : op.v128Load(0)), ...set(V + j));
    body.push(...transpose4x4(V, V + 4));
    // column j of these four rows: W[8p + 4 half .. +4][k + j] -> dst[(k + j) 8 + 4 half ..]
    for (let j = 0; j < 4; j++) body.push(...get(D), ...get(V + j), ...op.v128Store(32 * j + 16 * half));
  }
  for (let j = 0; j < PANEL; j++) body.push(...get(ROW0 + j), ...op.i32Const(bf16 ? 8 : 16), ...op.i32Add, ...set(ROW0 + j));
  body.push(...get(D), ...op.i32Const(4 * 4 * PANEL), ...op.i32Add, ...set(D));
  body.push(...get(KK), ...op.i32Const(4), ...op.i32Add, ...set(KK), ...op.continueLoop, ...op.end, ...op.end);
  body.push(...get(P), ...op.i32Const(1), ...op.i32Add, ...set(P), ...op.continueLoop, ...op.end, ...op.end);
  return { name: bf16 ? 'pack_nt_bf16' : 'pack_nt', params: 5, locals: [[3 + PANEL, I32], [8, V128]], body };
}

/** gemm_rows<R>[_wide]_d<depth>: the kernel for R rows of A (32-column panels when wide) summing K in a cascade of that depth. */
export const gemmName = (rows: number, wide: boolean, depth: CascadeDepth) => `gemm_rows${rows}${wide ? '_wide' : ''}_d${depth}`;
/** gemv_nt<R>_d<depth>[_bf16]: gemv for R rows of A (over bfloat16 weights with _bf16). */
export const gemvName = (rows: number, depth: CascadeDepth, bf16 = false) => `gemv_nt${rows}_d${depth}${bf16 ? '_bf16' : ''}`;
/** pack_nn / pack_nt, or their _bf16 variants that widen bfloat16 B while packing. */
export const packName = (transposed: boolean, bf16: boolean) => `pack_${transposed ? 'nt' : 'nn'}${bf16 ? '_bf16' : ''}`;

/** Every exported function, by name: (byte addresses and sizes) => void. */
export type GemmKernels = Record<string, (...args: number[]) => void>;

let kernels: GemmKernels | null = null;

/** The compiled module over the shared memory, created on first use. */
export function getKernels(): GemmKernels {
  if (kernels === null) {
    const functions = [packNNKernel(false), packNTKernel(false), packNNKernel(true), packNTKernel(true)];
    for (const depth of CASCADE_DEPTHS) {
      functions.push(gemmKernel(4, 2, depth), gemmKernel(1, 2, depth), gemmKernel(1, WIDE_PANEL / 4, depth));
      for (const bf16 of [false, true]) functions.push(...[1, 2, 3, 4].map((rows) => gemvKernel(rows, depth, bf16)));
    }
    const module = new wasm.Module(buildModule(functions, MAX_PAGES));
    kernels = new wasm.Instance(module, { env: { memory: sharedMemory() } }).exports as unknown as GemmKernels;
    registerModule(module, functions.map((f) => f.name));
  }
  return kernels;
}
