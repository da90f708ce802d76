// Matrix products on WebAssembly SIMD: hand-scheduled microkernels, emitted
// as bytecode by module-builder.ts, for the webasm backend's matmuls.
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
// Operands, per layout (no operand is ever transposed in memory):
//   A: NN/NT [M, K] rows (step along k: one float); TN [K, M] (step: a row)
//   B: NN/TN [K, N] read in place when at most 16 rows of A use it and N is
//      a multiple of 8; otherwise, and for NT ([N, K], a Linear weight),
//      packed into panels of 8 columns, [N/8][K][8], by pack_nn / pack_nt in
//      wasm (on the host when N is not a multiple of 8), zero-padded at the
//      right edge.
// The 4-row kernel runs over the rows of A, in L2-sized chunks, and a 1-row
// kernel over the last M mod 4. A large product splits its panels across
// the worker threads, each packing its own; a batch of small ones (attention,
// per head) gives each thread whole batch entries.
//
// Decoding multiplies one row (or a few) by a weight [N, K]: packing the
// weight would cost more than the product. gemv_nt<R> instead reads four
// weight rows at once, transposes each 4 x 4 block in registers (eight
// shuffles) and accumulates lane n = W[n] . x in k order, so the sums are
// again the GPU.js kernel's, bit for bit. Weights that live in wasm memory
// (resident, memory.ts) are read where they are, without a copy.

import type { TypedData } from '../../lib/tensor/dtype.ts';
import type { MatmulDims, MatmulLayout } from '../matmul.ts';
import { I32, V128, buildModule, op, type FunctionSpec } from './module-builder.ts';
import { MAX_PAGES, compiles, roundUp, residentOffset, scratch, sharedMemory, wasm } from './memory.ts';
import { type WasmCall, parallel, registerModule } from './threads.ts';
import { CASCADE_DEPTHS, type CascadeDepth, cascadeDepth, cascadeLoop, cascadeResult } from './cascade.ts';
import { transpose4x4 } from './transpose.ts';

const PANEL = 8; // columns per panel: two 4-lane vectors
/** Columns per panel of the one-row kernel over B in place (gemm_rows1_wide). */
const WIDE_PANEL = 32;
/** Up to this many rows of A, an NT product runs on gemv_nt. */
const GEMV_MAX_ROWS = 4;
/** Up to this many rows of A, an NN or TN product reads B in place instead of packing it. */
const IN_PLACE_MAX_ROWS = 16;

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
 */
function gemvKernel(rows: number, depth: CascadeDepth): FunctionSpec {
  const [A, W, C, BLOCKS, K, LDA, LDW, LDC] = [0, 1, 2, 3, 4, 5, 6, 7]; // parameters
  const [BLOCK, DONE, AP, RUN_END, P0] = [8, 9, 10, 11, 12]; // i32 locals; P0..P0+3 point into the four weight rows
  const ROW = P0 + 4; // v128: the four loaded rows, the four transposed columns, the accumulators, a, the cascade's levels
  const COL = ROW + 4;
  const ACC = COL + 4;
  const AV = ACC + rows;
  const LEVELS = AV + 1;
  const accumulators = Array.from({ length: rows }, (_, r) => ACC + r);
  const levels = accumulators.map((_, r) => Array.from({ length: depth }, (_, l) => LEVELS + depth * r + l));
  const body: number[] = [...op.i32Const(0), ...set(BLOCK), ...op.blockLoop];
  body.push(...get(BLOCK), ...get(BLOCKS), ...op.i32GeU, ...op.breakIfOutOfLoop);
  // p_j = w + (4 block + j) ldw
  for (let j = 0; j < 4; j++) {
    body.push(...get(W), ...get(BLOCK), ...op.i32Const(4), ...op.i32Mul, ...op.i32Const(j), ...op.i32Add, ...get(LDW), ...op.i32Mul, ...op.i32Add, ...set(P0 + j));
  }
  body.push(...get(A), ...set(AP));
  // four k at a time: lane n of ROW + j holds W[n][k + j], added in k order
  const iteration: number[] = [];
  for (let j = 0; j < 4; j++) iteration.push(...get(P0 + j), ...op.v128Load(0), ...set(ROW + j));
  iteration.push(...transpose4x4(ROW, COL)); // ROW+j = [W[n0][k+j], W[n0+1][k+j], W[n0+2][k+j], W[n0+3][k+j]]
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < 4; j++) {
      iteration.push(...get(AP), ...(r > 0 ? [...get(LDA), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add] : []), ...op.v128Load32Splat(4 * j), ...set(AV));
      iteration.push(...get(ACC + r), ...get(AV), ...get(ROW + j), ...op.f32x4Mul, ...op.f32x4Add, ...set(ACC + r));
    }
  }
  for (let j = 0; j < 4; j++) iteration.push(...get(P0 + j), ...op.i32Const(16), ...op.i32Add, ...set(P0 + j));
  iteration.push(...get(AP), ...op.i32Const(16), ...op.i32Add, ...set(AP));
  const cascade = { terms: K, depth, step: 4, done: DONE, runEnd: RUN_END, accumulators, levels, iteration };
  body.push(...cascadeLoop(cascade));
  // c + r ldc + 16 block
  for (let r = 0; r < rows; r++) {
    body.push(...get(C), ...get(LDC), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add, ...get(BLOCK), ...op.i32Const(16), ...op.i32Mul, ...op.i32Add, ...get(cascadeResult(cascade, r)), ...op.v128Store(0));
  }
  body.push(...get(BLOCK), ...op.i32Const(1), ...op.i32Add, ...set(BLOCK), ...op.continueLoop, ...op.end, ...op.end);
  return { name: gemvName(rows, depth), params: 8, locals: [[8, I32], [8 + rows + 1 + depth * rows, V128]], body };
}

/**
 * pack_nn(src, dst, k, ldsrc, panels): panel p of a [K, N] matrix, the 8
 * columns 8p..8p+8 of every row, to dst + p K 8 floats. ldsrc: bytes per row.
 */
function packNNKernel(): FunctionSpec {
  const [SRC, DST, K, LD, PANELS] = [0, 1, 2, 3, 4];
  const [P, KK, S, D] = [5, 6, 7, 8];
  const body: number[] = [...op.i32Const(0), ...set(P), ...op.blockLoop, ...get(P), ...get(PANELS), ...op.i32GeU, ...op.breakIfOutOfLoop];
  body.push(...get(SRC), ...get(P), ...op.i32Const(4 * PANEL), ...op.i32Mul, ...op.i32Add, ...set(S));
  body.push(...get(DST), ...get(P), ...get(K), ...op.i32Mul, ...op.i32Const(4 * PANEL), ...op.i32Mul, ...op.i32Add, ...set(D));
  body.push(...op.i32Const(0), ...set(KK), ...op.blockLoop, ...get(KK), ...get(K), ...op.i32GeU, ...op.breakIfOutOfLoop);
  body.push(...get(D), ...get(S), ...op.v128Load(0), ...op.v128Store(0), ...get(D), ...get(S), ...op.v128Load(16), ...op.v128Store(16));
  body.push(...get(S), ...get(LD), ...op.i32Add, ...set(S), ...get(D), ...op.i32Const(4 * PANEL), ...op.i32Add, ...set(D));
  body.push(...get(KK), ...op.i32Const(1), ...op.i32Add, ...set(KK), ...op.continueLoop, ...op.end, ...op.end);
  body.push(...get(P), ...op.i32Const(1), ...op.i32Add, ...set(P), ...op.continueLoop, ...op.end, ...op.end);
  return { name: 'pack_nn', params: 5, locals: [[4, I32]], body };
}

/**
 * pack_nt(src, dst, k, ldsrc, panels): panel p of W^T for W [N, K] (k a
 * multiple of 4): rows 8p..8p+8 of W become the 8 columns of the panel,
 * through 4 x 4 register transposes. ldsrc: bytes per row of W.
 */
function packNTKernel(): FunctionSpec {
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
    for (let j = 0; j < 4; j++) body.push(...get(ROW0 + 4 * half + j), ...op.v128Load(0), ...set(V + j));
    body.push(...transpose4x4(V, V + 4));
    // column j of these four rows: W[8p + 4 half .. +4][k + j] -> dst[(k + j) 8 + 4 half ..]
    for (let j = 0; j < 4; j++) body.push(...get(D), ...get(V + j), ...op.v128Store(32 * j + 16 * half));
  }
  for (let j = 0; j < PANEL; j++) body.push(...get(ROW0 + j), ...op.i32Const(16), ...op.i32Add, ...set(ROW0 + j));
  body.push(...get(D), ...op.i32Const(4 * 4 * PANEL), ...op.i32Add, ...set(D));
  body.push(...get(KK), ...op.i32Const(4), ...op.i32Add, ...set(KK), ...op.continueLoop, ...op.end, ...op.end);
  body.push(...get(P), ...op.i32Const(1), ...op.i32Add, ...set(P), ...op.continueLoop, ...op.end, ...op.end);
  return { name: 'pack_nt', params: 5, locals: [[3 + PANEL, I32], [8, V128]], body };
}

/** gemm_rows<R>[_wide]_d<depth>: the kernel for R rows of A (32-column panels when wide) summing K in a cascade of that depth. */
const gemmName = (rows: number, wide: boolean, depth: CascadeDepth) => `gemm_rows${rows}${wide ? '_wide' : ''}_d${depth}`;
const gemvName = (rows: number, depth: CascadeDepth) => `gemv_nt${rows}_d${depth}`;

/** Every exported function, by name: (byte addresses and sizes) => void. */
type Kernels = Record<string, (...args: number[]) => void>;

let kernels: Kernels | null = null;

/** The compiled module over the shared memory, created on first use. */
function getKernels(): Kernels {
  if (kernels === null) {
    const functions = [packNNKernel(), packNTKernel()];
    for (const depth of CASCADE_DEPTHS) {
      functions.push(gemmKernel(4, 2, depth), gemmKernel(1, 2, depth), gemmKernel(1, WIDE_PANEL / 4, depth), ...[1, 2, 3, 4].map((rows) => gemvKernel(rows, depth)));
    }
    const module = new wasm.Module(buildModule(functions, MAX_PAGES));
    kernels = new wasm.Instance(module, { env: { memory: sharedMemory() } }).exports as unknown as Kernels;
    registerModule(module, functions.map((f) => f.name));
  }
  return kernels;
}

/** Whether this JavaScript engine runs WebAssembly SIMD with shared memory. */
export const isSimdGemmAvailable = (): boolean => compiles(getKernels);

/**
 * Rows of A are taken in chunks whose K columns fit in about 128 KiB, so a
 * chunk stays in the core's L2 cache while every panel of B streams past it
 * (A whole, 512 x 256 floats, does not: on 512 x 256 x 8192 the NT product
 * went from 33 to 39 GFLOP/s and TN from 27 to 36). At most MAX_CHUNKS
 * chunks, to bound the calls per job.
 */
const CHUNK_BYTES = 128 * 1024;
const MAX_CHUNKS = 16;
function rowBlocksPerChunk(blocks: number, K: number): number {
  return Math.max(1, Math.floor(CHUNK_BYTES / (16 * K)), Math.ceil(blocks / MAX_CHUNKS));
}

/**
 * Products below this many multiply-adds stay on the main thread. Measured
 * here (2 vCPUs): a 256 x 256 x 256 product (16.8M) took 0.88 ms on one thread
 * and 0.98 on two (the hand-off, and both threads packing), 512 x 256 x 256
 * (33.6M) 1.74 against 1.28; large products gain 1.4-1.75x.
 */
const THREADING_THRESHOLD = 1 << 25;
/** gemv is bound by memory, which two threads read faster from 2M multiply-adds on (2304 x 1024: 0.54 -> 0.36 ms). */
const GEMV_THREADING_THRESHOLD = 1 << 21;

/**
 * How much scratch one product may use. A product whose operands would need
 * more (gemma-2-2b's tied head is 256000 x 2304 floats, 2.4 GB, and wasm32
 * memory ends at 4 GiB, resident weights included) runs in slices of B's
 * columns that fit. Tests lower it to exercise the slicing.
 */
export const matmulLimits = { maxScratchFloats: 64 * 2 ** 20 };

/** Same contract as runMatmul: C [batch, M, N] for the given layout. */
export function simdMatmul(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims): Float32Array {
  const { M, K, N } = dims;
  // upper bound of the scratch a product takes: A, B twice (as stored and packed), C
  const scratchFloats = M * K + 2 * K * (N + PANEL) + M * (N + PANEL);
  if (scratchFloats > matmulLimits.maxScratchFloats && N > PANEL) return productInColumnSlices(layout, a, b, dims);
  return product(layout, a, b, dims);
}

/** The product on the kernel that suits its shape. */
function product(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims): Float32Array {
  const { M, K, N } = dims;
  if (layout === 'NT' && M <= GEMV_MAX_ROWS && K % 4 === 0 && N % 4 === 0) return gemvProduct(a, b, dims);
  // B [K, N] read as it is stored when few rows of A use it: packing would cost more than it saves.
  // For more rows the packed panel stays in L1 across row blocks, while in place its K rows lie a
  // whole row of B apart, which for wide B falls into a handful of cache sets (measured: 512x256x8192
  // at 25 GFLOP/s in place against 40 packed).
  const inPlace = layout !== 'NT' && N % PANEL === 0 && M <= IN_PLACE_MAX_ROWS;
  return gemmProduct(layout, a, b, dims, inPlace);
}

/**
 * C in slices of columns [n0, n1), each a product of its own that fits the
 * scratch limit: for NT the slice of B is rows n0..n1 of the stored [N, K]
 * (a view, still read in place when resident); for NN and TN it is columns of
 * [K, N], gathered into a dense [K, n1 - n0] first. Each output is the same
 * sum as without slicing.
 */
function productInColumnSlices(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims): Float32Array {
  const { batch, M, K, N, bBatched } = dims;
  const perColumn = 2 * K + M;
  const width = Math.max(PANEL, Math.floor((matmulLimits.maxScratchFloats - M * K) / perColumn / PANEL) * PANEL);
  const out = new Float32Array(batch * M * N);
  const bBatches = bBatched ? batch : 1;
  for (let n0 = 0; n0 < N; n0 += width) {
    const n1 = Math.min(N, n0 + width);
    const w = n1 - n0;
    let slice: TypedData;
    if (layout === 'NT' && bBatches === 1) {
      slice = b.subarray(n0 * K, n1 * K) as TypedData; // rows n0..n1 of [N, K]: a view
    } else if (layout === 'NT') {
      const dense = new Float32Array(bBatches * w * K); // rows n0..n1 of each batch entry's [N, K]
      for (let z = 0; z < bBatches; z++) dense.set(b.subarray(z * N * K + n0 * K, z * N * K + n1 * K), z * w * K);
      slice = dense;
    } else {
      const dense = new Float32Array(bBatches * K * w); // columns n0..n1 of each [K, N]
      for (let z = 0; z < bBatches; z++) {
        for (let k = 0; k < K; k++) dense.set(b.subarray(z * K * N + k * N + n0, z * K * N + k * N + n1), (z * K + k) * w);
      }
      slice = dense;
    }
    const part = product(layout, a, slice, { ...dims, N: w });
    for (let row = 0; row < batch * M; row++) out.set(part.subarray(row * w, (row + 1) * w), row * N + n0);
  }
  return out;
}

/**
 * The blocked product. How B gets to the kernel:
 *   in place    B [K, N] read where it lies (resident) or after one copy into scratch;
 *   wasm-packed B resident or copied into scratch, then packed by pack_nn / pack_nt,
 *               each thread packing the panels it is about to multiply;
 *   js-packed   packed on the host (N not a multiple of 8, or NT with K not a multiple of 4).
 */
function gemmProduct(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims, inPlace: boolean): Float32Array {
  const { batch, M, K, N, aBatched, bBatched } = dims;
  const kernels = getKernels();
  // a few rows against B in place: the one-row kernel over 32-column panels
  const wide = inPlace && M <= GEMV_MAX_ROWS && N % WIDE_PANEL === 0;
  const width = wide ? WIDE_PANEL : PANEL;
  const panels = Math.ceil(N / width);
  const ldcFloats = panels * width;
  const transposed = layout === 'NT';
  const wasmPacked = !inPlace && N % PANEL === 0 && (!transposed || K % 4 === 0);
  const resident = inPlace || wasmPacked ? residentOffset(b) : -1;
  // one region per batch entry in flight: [A: M*K][B as stored, unless resident: K*N][B packed: K*ldc][C: M*ldc]
  const aStart = 0;
  const rawStart = roundUp(aStart + M * K, 4);
  const packedStart = roundUp(rawStart + (resident < 0 && (inPlace || wasmPacked) ? K * N : 0), 4);
  const cStart = roundUp(packedStart + (inPlace ? 0 : K * ldcFloats), 4);
  const regionFloats = roundUp(cStart + M * ldcFloats, 4);
  // Small products of a batch (attention's, per head) go whole to the threads, a range of batch
  // entries each; large ones split their panels across the threads, one entry after another.
  const byEntries = batch > 1 && M * K * N < THREADING_THRESHOLD && batch * regionFloats <= matmulLimits.maxScratchFloats;
  const { memory, base } = scratch((byEntries ? batch : 1) * regionFloats);
  // byte strides: A rows and the k step; B panel rows and panels
  const [lda, aStepK] = layout === 'TN' ? [4, 4 * M] : [4 * K, 4];
  const ldb = inPlace ? 4 * N : 4 * PANEL;
  const panelStride = inPlace ? width : K * PANEL; // floats from one panel to the next
  const fullBlocks = Math.floor(M / 4);
  const blocksPerChunk = rowBlocksPerChunk(fullBlocks, K);
  const depth = cascadeDepth(K);
  const [rows4, rows1, rows1Wide] = [gemmName(4, false, depth), gemmName(1, false, depth), gemmName(1, true, depth)];
  const run = (calls: WasmCall[]) => {
    for (const { fn, args } of calls) kernels[fn](...args);
  };

  /**
   * Copies entry z's operands into the region at `at` (B only when `placeB`)
   * and returns its calls over panels [first, end): B packed first when
   * `packB`, then per chunk of rows the 4-row kernel over its blocks, and the
   * 1-row kernel over the last M mod 4 rows.
   */
  const prepareEntry = (z: number, at: number, placeB: boolean, bAt: { raw: number; packed: number }, packB: boolean) => {
    const aOffset = aBatched ? z * M * K : 0;
    const bOffset = bBatched ? z * K * N : 0;
    memory.set(a.subarray(aOffset, aOffset + M * K), at + aStart); // TN keeps A [K, M] as stored
    if (placeB) {
      bAt.packed = at + packedStart;
      if (inPlace || wasmPacked) {
        if (resident >= 0) bAt.raw = resident + bOffset;
        else {
          memory.set(b.subarray(bOffset, bOffset + K * N), at + rawStart);
          bAt.raw = at + rawStart;
        }
      } else packPanels(memory, at + packedStart, b, bOffset, K, N, ldcFloats, transposed);
    }
    const { raw, packed } = bAt;
    const first0 = inPlace ? raw : packed;
    const aBytes = 4 * (at + aStart);
    const cBytes = 4 * (at + cStart);
    return (first: number, end: number): WasmCall[] => {
      const panel = 4 * (first0 + first * panelStride);
      const cPanel = cBytes + 4 * first * width;
      if (wide) return [{ fn: rows1Wide, args: [aBytes, panel, cPanel, M, K, lda, 4 * ldcFloats, aStepK, ldb, end - first, 4 * panelStride] }];
      const calls: WasmCall[] = [];
      if (packB) {
        const source = transposed ? 4 * (raw + first * PANEL * K) : 4 * (raw + first * PANEL);
        calls.push({ fn: transposed ? 'pack_nt' : 'pack_nn', args: [source, panel, K, transposed ? 4 * K : 4 * N, end - first] });
      }
      for (let block = 0; block < fullBlocks; block += blocksPerChunk) {
        const blocks = Math.min(blocksPerChunk, fullBlocks - block);
        calls.push({ fn: rows4, args: [aBytes + block * 4 * lda, panel, cPanel + block * 4 * 4 * ldcFloats, blocks, K, lda, 4 * ldcFloats, aStepK, ldb, end - first, 4 * panelStride] });
      }
      if (M % 4 > 0) calls.push({ fn: rows1, args: [aBytes + fullBlocks * 4 * lda, panel, cPanel + fullBlocks * 4 * 4 * ldcFloats, M % 4, K, lda, 4 * ldcFloats, aStepK, ldb, end - first, 4 * panelStride] });
      return calls;
    };
  };

  const out = new Float32Array(batch * M * N);
  const copyOut = (z: number, at: number) => {
    const c = at + cStart;
    if (ldcFloats === N) out.set(memory.subarray(c, c + M * N), z * M * N);
    else for (let m = 0; m < M; m++) out.set(memory.subarray(c + m * ldcFloats, c + m * ldcFloats + N), (z * M + m) * N);
  };
  const bAt = { raw: 0, packed: 0 };

  if (byEntries) {
    // every entry in its own region; a B shared by the batch is placed once, in region 0, and
    // packed here before the entries run
    const entries = Array.from({ length: batch }, (_, z) =>
      bBatched ? prepareEntry(z, base + z * regionFloats, true, { raw: 0, packed: 0 }, wasmPacked) : prepareEntry(z, base + z * regionFloats, z === 0, bAt, false),
    );
    if (!bBatched && wasmPacked) run([{ fn: transposed ? 'pack_nt' : 'pack_nn', args: [4 * bAt.raw, 4 * bAt.packed, K, transposed ? 4 * K : 4 * N, panels] }]);
    const entryCalls = (first: number, end: number) => entries.slice(first, end).flatMap((calls) => calls(0, panels));
    parallel(batch, batch * M * K * N >= THREADING_THRESHOLD, entryCalls, (first, end) => run(entryCalls(first, end)));
    for (let z = 0; z < batch; z++) copyOut(z, base + z * regionFloats);
    return out;
  }

  let placedFor = -1;
  for (let z = 0; z < batch; z++) {
    const bOffset = bBatched ? z * K * N : 0;
    const placeB = bOffset !== placedFor;
    // packed panels serve the following entries that share B
    const calls = prepareEntry(z, base, placeB, bAt, placeB && wasmPacked);
    placedFor = bOffset;
    // the wide one-row kernel is bound by reading B, like gemv
    parallel(panels, M * K * N >= (wide ? GEMV_THREADING_THRESHOLD : THREADING_THRESHOLD), calls, (first, end) => run(calls(first, end)));
    copyOut(z, base);
  }
  return out;
}

/** NT with at most GEMV_MAX_ROWS rows of A: C = A W^T with W [N, K] read row by row, in place when resident. */
function gemvProduct(a: TypedData, w: TypedData, dims: MatmulDims): Float32Array {
  const { batch, M, K, N, aBatched, bBatched } = dims;
  const name = gemvName(M, cascadeDepth(K));
  const gemv = getKernels()[name];
  const resident = residentOffset(w);
  const aStart = 0;
  const wStart = roundUp(M * K, 4);
  const cStart = roundUp(wStart + (resident >= 0 ? 0 : K * N), 4);
  const { memory, base } = scratch(cStart + M * N);
  const out = new Float32Array(batch * M * N);
  let placedFor = -1;
  let wAt = 0;
  for (let z = 0; z < batch; z++) {
    const aOffset = aBatched ? z * M * K : 0;
    const wOffset = bBatched ? z * K * N : 0;
    memory.set(a.subarray(aOffset, aOffset + M * K), base + aStart);
    if (wOffset !== placedFor) {
      if (resident >= 0) wAt = resident + wOffset;
      else {
        memory.set(w.subarray(wOffset, wOffset + K * N), base + wStart);
        wAt = base + wStart;
      }
      placedFor = wOffset;
    }
    const blocks = N / 4;
    const args = (first: number, end: number) => [4 * (base + aStart), 4 * (wAt + first * 4 * K), 4 * (base + cStart + first * 4), end - first, K, 4 * K, 4 * K, 4 * N];
    parallel(
      blocks,
      M * K * N >= GEMV_THREADING_THRESHOLD,
      (first, end) => [{ fn: name, args: args(first, end) }],
      (first, end) => gemv(...args(first, end)),
    );
    out.set(memory.subarray(base + cStart, base + cStart + M * N), z * M * N);
  }
  return out;
}

/**
 * Packs B into panels of 8 columns, panel p holding B[k][8p .. 8p+8) for every
 * k: [panels][K][8]. B is stored [K, N], or [N, K] when `transposed` (the NT
 * layout: a Linear weight). Columns past N are zero.
 */
function packPanels(memory: Float32Array, start: number, b: TypedData, offset: number, K: number, N: number, paddedN: number, transposed: boolean): void {
  if (paddedN !== N) memory.fill(0, start, start + K * paddedN);
  if (transposed) {
    // B^T row n is contiguous: read it along k, write one column of its panel
    for (let n = 0; n < N; n++) {
      const base = start + Math.floor(n / PANEL) * K * PANEL + (n % PANEL);
      const row = offset + n * K;
      for (let k = 0; k < K; k++) memory[base + k * PANEL] = b[row + k];
    }
  } else {
    // B row k is contiguous: read it along n, eight columns at a time into each panel
    for (let k = 0; k < K; k++) {
      const row = offset + k * N;
      for (let n = 0; n < N; n++) memory[start + (n >> 3) * K * PANEL + k * PANEL + (n & 7)] = b[row + n];
    }
  }
}
