// Matrix products on WebAssembly SIMD: a hand-scheduled microkernel, emitted
// as bytecode by module-builder.ts, for the webasm backend's matmuls.
//
// Why: GPU.js's generated code gives each thread one output cell, so every
// product re-reads its operands K times per cell through scalar loads and
// runs at 0.4-1.0 GFLOP/s here. The classic register-blocked kernel computes
// a 4 x 8 block of C in eight 4-lane accumulators:
//   for k: b0, b1 = B[k][j..j+4), B[k][j+4..j+8)       (one packed panel row)
//          for r < 4: a = splat(A[i+r][k]); acc[r][0] += a b0; acc[r][1] += a b1
// which keeps every loaded value busy for 8 multiply-adds and runs at 30-40
// GFLOP/s on one core of this machine (npm run bench:ops). Each output is still
// a plain float32 sum over k in order, like the GPU.js kernel's.
//
// Host side, per product: A is copied into wasm memory row-major (transposed
// for the TN layout), B is packed into panels of 8 columns, [N/8][K][8], zero-
// padded at the right edge, and each panel runs the 4-row kernel over the rows
// (a 1-row kernel takes the last M mod 4). C comes back row by row.

import type { TypedData } from '../../lib/tensor/dtype.ts';
import type { MatmulDims, MatmulLayout } from '../matmul.ts';
import { I32, V128, buildModule, op, type FunctionSpec } from './module-builder.ts';
import { PanelThreads, threadCount } from './threads.ts';

const PANEL = 8; // columns per packed panel: two 4-lane vectors
const PAGE_BYTES = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit

/**
 * gemm_rows<R>(a, b, c, blocks, k, lda, ldc): for `blocks` blocks of R rows,
 * C[R rows][8] = A[R rows][k] x panel[k][8]. a, b, c are byte addresses;
 * lda and ldc are row strides in bytes.
 */
function gemmKernel(rows: number): FunctionSpec {
  const [A, B, C, BLOCKS, K, LDA, LDC] = [0, 1, 2, 3, 4, 5, 6]; // parameters
  const [BLOCK, KK, AP, BP] = [7, 8, 9, 10]; // i32 locals
  const ACC = 11; // 2 * rows v128 accumulators, then b0, b1, a
  const B0 = ACC + 2 * rows;
  const B1 = B0 + 1;
  const AV = B1 + 1;
  const rowAddress = (base: number, stride: number, r: number) => (r === 0 ? op.localGet(base) : [...op.localGet(base), ...op.localGet(stride), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add]);
  const body: number[] = [...op.i32Const(0), ...op.localSet(BLOCK), ...op.blockLoop];
  body.push(...op.localGet(BLOCK), ...op.localGet(BLOCKS), ...op.i32GeU, ...op.breakIfOutOfLoop);
  for (let v = 0; v < 2 * rows; v++) body.push(...op.v128Zero, ...op.localSet(ACC + v));
  // ap = a + block * rows * lda ; bp = b
  body.push(...op.localGet(A), ...op.localGet(BLOCK), ...op.i32Const(rows), ...op.i32Mul, ...op.localGet(LDA), ...op.i32Mul, ...op.i32Add, ...op.localSet(AP));
  body.push(...op.localGet(B), ...op.localSet(BP), ...op.i32Const(0), ...op.localSet(KK), ...op.blockLoop);
  body.push(...op.localGet(KK), ...op.localGet(K), ...op.i32GeU, ...op.breakIfOutOfLoop);
  body.push(...op.localGet(BP), ...op.v128Load(0), ...op.localSet(B0), ...op.localGet(BP), ...op.v128Load(16), ...op.localSet(B1));
  for (let r = 0; r < rows; r++) {
    body.push(...rowAddress(AP, LDA, r), ...op.v128Load32Splat(0), ...op.localSet(AV));
    for (const [acc, bv] of [[ACC + 2 * r, B0], [ACC + 2 * r + 1, B1]]) {
      body.push(...op.localGet(acc), ...op.localGet(AV), ...op.localGet(bv), ...op.f32x4Mul, ...op.f32x4Add, ...op.localSet(acc));
    }
  }
  body.push(...op.localGet(AP), ...op.i32Const(4), ...op.i32Add, ...op.localSet(AP)); // next k: one float along A's row
  body.push(...op.localGet(BP), ...op.i32Const(4 * PANEL), ...op.i32Add, ...op.localSet(BP)); // next panel row
  body.push(...op.localGet(KK), ...op.i32Const(1), ...op.i32Add, ...op.localSet(KK), ...op.continueLoop, ...op.end, ...op.end);
  // store the block: c + block * rows * ldc + r * ldc
  for (let r = 0; r < rows; r++) {
    body.push(...op.localGet(C), ...op.localGet(BLOCK), ...op.i32Const(rows), ...op.i32Mul, ...op.localGet(LDC), ...op.i32Mul, ...op.i32Add);
    if (r > 0) body.push(...op.localGet(LDC), ...op.i32Const(r), ...op.i32Mul, ...op.i32Add);
    body.push(...op.localTee(AP), ...op.localGet(ACC + 2 * r), ...op.v128Store(0), ...op.localGet(AP), ...op.localGet(ACC + 2 * r + 1), ...op.v128Store(16));
  }
  body.push(...op.localGet(BLOCK), ...op.i32Const(1), ...op.i32Add, ...op.localSet(BLOCK), ...op.continueLoop, ...op.end, ...op.end);
  return { name: `gemm_rows${rows}`, params: 7, locals: [[4, I32], [2 * rows + 3, V128]], body };
}

type Kernel = (a: number, b: number, c: number, blocks: number, k: number, lda: number, ldc: number) => void;

/** The parts of the WebAssembly JS API used here (the project compiles without the DOM typings that declare it). */
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Runtime {
  memory: WasmMemory;
  module: object;
  rows4: Kernel;
  rows1: Kernel;
  /** Worker threads, started on the first product big enough to share. */
  threads: PanelThreads | null;
}

/** Products below this many multiply-adds stay on the main thread: a hand-off costs tens of microseconds. */
const THREADING_THRESHOLD = 1 << 20;

let runtime: Runtime | null = null;

/** The compiled module over one shared memory, created on first use. */
function getRuntime(): Runtime {
  if (runtime === null) {
    const memory = new wasm.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    const module = new wasm.Module(buildModule([gemmKernel(4), gemmKernel(1)], MAX_PAGES));
    const exports = new wasm.Instance(module, { env: { memory } }).exports as Record<string, Kernel>;
    runtime = { memory, module, rows4: exports.gemm_rows4, rows1: exports.gemm_rows1, threads: null };
  }
  return runtime;
}

/** Whether this JavaScript engine runs WebAssembly SIMD with shared memory. */
export function isSimdGemmAvailable(): boolean {
  try {
    getRuntime();
    return true;
  } catch {
    return false;
  }
}

/** A float32 view of at least `floats` values of wasm memory (growing it as needed). */
function heap(floats: number): Float32Array {
  const { memory } = getRuntime();
  const bytes = floats * 4;
  const have = memory.buffer.byteLength;
  if (bytes > have) {
    const pages = Math.ceil((bytes - have) / PAGE_BYTES);
    if (have / PAGE_BYTES + pages > MAX_PAGES) throw new RangeError(`matmul: ${bytes} bytes of operands exceed WebAssembly's 4 GiB memory`);
    memory.grow(pages);
  }
  return new Float32Array(memory.buffer);
}

const roundUp = (n: number, multiple: number) => Math.ceil(n / multiple) * multiple;

/** The runtime's worker threads (started once), or null when only one thread is wanted. */
function threadsFor(r: Runtime): PanelThreads | null {
  const count = threadCount();
  if (count <= 1) return null;
  if (r.threads === null || r.threads.count !== count) {
    r.threads?.stop();
    r.threads = new PanelThreads(r.module, r.memory, count - 1);
  }
  return r.threads;
}

/** Same contract as runMatmul: C [batch, M, N] for the given layout. */
export function simdMatmul(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims): Float32Array {
  const { batch, M, K, N, aBatched, bBatched } = dims;
  const panels = Math.ceil(N / PANEL);
  const paddedN = panels * PANEL;
  // memory: [A: M*K][packed B: K*paddedN][C: M*paddedN], each 16-byte aligned
  const aStart = 0;
  const bStart = roundUp(aStart + M * K, 4);
  const cStart = roundUp(bStart + K * paddedN, 4);
  const memory = heap(cStart + M * paddedN);
  const { rows4, rows1 } = getRuntime();
  const out = new Float32Array(batch * M * N);
  let packedFor = -1;
  for (let z = 0; z < batch; z++) {
    const aOffset = aBatched ? z * M * K : 0;
    const bOffset = bBatched ? z * K * N : 0;
    if (layout === 'TN') {
      // A is stored [K, M]: copy it transposed, so rows of A are contiguous
      for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) memory[aStart + m * K + k] = a[aOffset + k * M + m];
    } else {
      memory.set(a.subarray(aOffset, aOffset + M * K), aStart);
    }
    if (bOffset !== packedFor) {
      packPanels(memory, bStart, b, bOffset, K, N, paddedN, layout === 'NT');
      packedFor = bOffset;
    }
    const fullBlocks = Math.floor(M / 4);
    // panels [first, end) of this product; the same loop runs in the worker threads (threads.ts)
    const runPanels = (first: number, end: number) => {
      for (let p = first; p < end; p++) {
        const panel = 4 * (bStart + p * K * PANEL);
        const cPanel = 4 * (cStart + p * PANEL);
        if (fullBlocks > 0) rows4(4 * aStart, panel, cPanel, fullBlocks, K, 4 * K, 4 * paddedN);
        if (M % 4 > 0) rows1(4 * (aStart + fullBlocks * 4 * K), panel, cPanel + 4 * fullBlocks * 4 * paddedN, M % 4, K, 4 * K, 4 * paddedN);
      }
    };
    const threads = M * K * N >= THREADING_THRESHOLD && panels > 1 ? threadsFor(getRuntime()) : null;
    if (threads === null) runPanels(0, panels);
    else threads.run({ aStart, bStart, cStart, K, paddedN, M }, panels, runPanels);
    for (let m = 0; m < M; m++) out.set(memory.subarray(cStart + m * paddedN, cStart + m * paddedN + N), (z * M + m) * N);
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
