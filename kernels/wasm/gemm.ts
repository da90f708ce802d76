// Matrix products on WebAssembly SIMD, for the webasm backend's matmuls:
// simdMatmul plans a product (gemm-plan.ts: which microkernel, how B reaches
// it, how the threads share the work, column slices, where every operand lies
// in scratch), then carries the plan out here: it copies the operands into
// scratch (B only when it is not resident in wasm memory, memory.ts), packs B
// on the host when the plan says so, issues the microkernels' calls
// (gemm-kernels.ts) on this thread or on the workers (threads.ts), and copies
// C out. A resident weight is read where it is, without a copy.
//
// B may hold bfloat16 bits (a Uint16Array: a weight kept as its checkpoint
// stores it). It is then read by gemv_nt_bf16 where it lies, or widened while
// packing (pack_*_bf16 in wasm, packPanels on the host); copied into scratch,
// it stays bfloat16 (half the bytes). Addresses of B are kept in bytes.
//
// An epilogue (the LM head's softcap, cap tanh(C / cap)) runs on each entry's
// C in place in scratch, after its microkernels and before the copy out: no
// second array and no second copy in and out of wasm memory. It is a pass of
// its own over C rather than code inside the microkernels, whose C tiles are
// written by up to ten kernel variants (gemm-kernels.ts); C is still in
// scratch (and, for the decode step's single row, in cache) when it runs.

import type { TypedData } from '../../lib/tensor/dtype.ts';
import { outputArray } from '../../lib/tensor/arena.ts';
import { compiles, residentByteOffset, scratch } from './memory.ts';
import { type WasmCall, parallel, threadCount } from './threads.ts';
import { type MatmulDims, type MatmulLayout, type MatmulPlan, type ProductPlan, PANEL, planMatmul } from './gemm-plan.ts';
import { gemmName, gemvName, getKernels, packName } from './gemm-kernels.ts';
import { simdSoftcapInPlace } from './vector-math.ts';
import { roundUp } from './memory.ts';

/** What runs on C before it leaves scratch: cap tanh(C / cap), the softcap map kernel's bits. */
export interface MatmulEpilogue {
  softcap: number;
}

/** Whether this JavaScript engine runs WebAssembly SIMD with shared memory. */
export const isSimdGemmAvailable = (): boolean => compiles(getKernels);

/**
 * How much scratch one product may use (8M floats, 32 MiB). A product whose
 * operands would need more runs in slices of B's columns that fit
 * (gemm-plan.ts says why this size). Tests lower it to exercise the slicing.
 */
export const matmulLimits = { maxScratchFloats: 8 * 2 ** 20 };

/** Same contract as runMatmul: C [batch, M, N] for the given layout. */
export function simdMatmul(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims, epilogue?: MatmulEpilogue): Float32Array {
  const bDtype = b instanceof Uint16Array ? 'bfloat16' : 'float32';
  const plan = planMatmul(layout, dims, { bResident: residentByteOffset(b) >= 0, threads: threadCount(), maxScratchFloats: matmulLimits.maxScratchFloats, bDtype });
  return plan.columns === 'all' ? runProduct(plan.product, a, b, epilogue) : runColumnSlices(plan, a, b, epilogue);
}

/** C one slice of columns [n0, n1) at a time; each output is the same sum as without slicing. */
function runColumnSlices(plan: Extract<MatmulPlan, { columns: 'slices' }>, a: TypedData, b: TypedData, epilogue?: MatmulEpilogue): Float32Array {
  const { batch, M, K, N, bBatched } = plan.dims;
  const bBatches = bBatched ? batch : 1;
  const out = outputArray(batch * M * N); // every column of every row comes from one slice
  for (const { n0, n1, product } of plan.slices) {
    const w = n1 - n0;
    let slice: TypedData;
    if (plan.bSlice === 'rows-view') {
      slice = b.subarray(n0 * K, n1 * K) as TypedData; // rows n0..n1 of [N, K]
    } else if (plan.layout === 'NT') {
      const dense = sameKind(b, bBatches * w * K); // rows n0..n1 of each batch entry's [N, K]
      for (let z = 0; z < bBatches; z++) dense.set(b.subarray(z * N * K + n0 * K, z * N * K + n1 * K), z * w * K);
      slice = dense;
    } else {
      const dense = sameKind(b, bBatches * K * w); // columns n0..n1 of each [K, N]
      for (let z = 0; z < bBatches; z++) {
        for (let k = 0; k < K; k++) dense.set(b.subarray(z * K * N + k * N + n0, z * K * N + k * N + n1), (z * K + k) * w);
      }
      slice = dense;
    }
    const part = runProduct(product, a, slice, epilogue);
    for (let row = 0; row < batch * M; row++) out.set(part.subarray(row * w, (row + 1) * w), row * N + n0);
  }
  return out;
}

/** A new array of B's kind (float32, or bfloat16 bits). */
function sameKind(b: TypedData, length: number): Float32Array | Uint16Array {
  return b instanceof Uint16Array ? new Uint16Array(length) : new Float32Array(length);
}

/** One product in flight: its plan, operands, scratch and result. */
interface Job {
  plan: ProductPlan;
  a: TypedData;
  b: TypedData;
  /** Where B starts in wasm memory when the plan reads it there without a copy (bytes), else -1. */
  bResident: number;
  memory: Float32Array;
  /** Where the scratch starts (floats). */
  base: number;
  out: Float32Array;
  epilogue: MatmulEpilogue | undefined;
}

/** Where B lies for one entry, in bytes: as stored (read by wasm packing), and the first panel the kernel reads (B itself when in place). */
interface BAddresses {
  bStored: number;
  bPanels: number;
}

/** Where one batch entry's operands lie, in bytes, as its kernel calls read them. */
interface EntryAddresses extends BAddresses {
  a: number;
  c: number;
}

/**
 * Carries out a product's plan over all of its (slice's) columns. The helpers
 * below are module functions rather than closures made per call: tsx gives
 * every such closure a name (Object.defineProperty), which took a 1 x 64 x 64
 * gemv from about 3 us to 5.5.
 */
function runProduct(plan: ProductPlan, a: TypedData, b: TypedData, epilogue?: MatmulEpilogue): Float32Array {
  const { batch, M, N } = plan.dims;
  // an epilogue runs on whole groups of 16 floats: up to 15 past the last C, which this room holds
  const { memory, base } = scratch(plan.scratchFloats + (epilogue === undefined ? 0 : EPILOGUE_GROUP));
  const bResident = plan.copyB || plan.bAccess === 'host-packed' ? -1 : residentByteOffset(b);
  const job: Job = { plan, a, b, bResident, memory, base, out: outputArray(batch * M * N), epilogue }; // copyOut writes every entry
  if (plan.entries === 'together') runEntriesTogether(job);
  else runEntriesOneByOne(job);
  return job.out;
}

/**
 * Every entry in its own region, all in one job; a B shared by the batch is
 * placed once, in region 0, and packed here before the entries run, while
 * each entry of a batched B packs its own in its calls.
 */
function runEntriesTogether(job: Job): void {
  const { plan, base } = job;
  const { batch, bBatched } = plan.dims;
  const wasmPacked = plan.bAccess === 'wasm-packed';
  const entries: EntryAddresses[] = [];
  let shared: BAddresses = { bStored: 0, bPanels: 0 };
  for (let z = 0; z < batch; z++) {
    const at = base + z * plan.region.floats;
    placeA(job, z, at);
    if (bBatched) entries.push(entryAddresses(plan, at, placeB(job, z, at)));
    else {
      if (z === 0) shared = placeB(job, 0, at);
      entries.push(entryAddresses(plan, at, shared));
    }
  }
  if (!bBatched && wasmPacked) runCalls([packCall(plan, shared, 0, plan.panels)]);
  const packOwn = bBatched === 1 && wasmPacked;
  if (plan.threading === 'entries') {
    parallel(batch, true, (first, end) => batchCalls(plan, entries.slice(first, end), packOwn), (first, end) => runCalls(batchCalls(plan, entries.slice(first, end), packOwn)));
  } else runCalls(batchCalls(plan, entries, packOwn));
  for (let z = 0; z < batch; z++) copyOut(job, z, base + z * plan.region.floats);
}

/** One region, entry after entry; entries that share B reuse it, and the panels packed for the first. */
function runEntriesOneByOne(job: Job): void {
  const { plan, base } = job;
  const { batch, K, N, bBatched } = plan.dims;
  let placedFor = -1;
  let bAt: BAddresses = { bStored: 0, bPanels: 0 };
  for (let z = 0; z < batch; z++) {
    placeA(job, z, base);
    const bOffset = bBatched ? z * K * N : 0;
    const newB = bOffset !== placedFor;
    if (newB) bAt = placeB(job, z, base);
    placedFor = bOffset;
    const entry = entryAddresses(plan, base, bAt);
    const packB = newB && plan.bAccess === 'wasm-packed';
    if (plan.threading === 'panels') parallel(plan.panels, true, (first, end) => entryCalls(plan, entry, packB, first, end), (first, end) => runCalls(entryCalls(plan, entry, packB, first, end)));
    else runCalls(entryCalls(plan, entry, packB, 0, plan.panels));
    copyOut(job, z, base);
  }
}

/** A of entry z into the region at `at` (TN keeps A [K, M] as stored). */
function placeA({ plan, a, memory }: Job, z: number, at: number): void {
  const { M, K, aBatched } = plan.dims;
  const offset = aBatched ? z * M * K : 0;
  memory.set(a.subarray(offset, offset + M * K), at + plan.region.a);
}

/** B of entry z where the plan reads it: in wasm memory already, copied into the region at `at`, or packed there on the host. */
function placeB({ plan, b, bResident, memory }: Job, z: number, at: number): BAddresses {
  const { K, N, bBatched } = plan.dims;
  const { region } = plan;
  const offset = bBatched ? z * K * N : 0;
  if (plan.bAccess === 'host-packed') {
    packPanels(memory, at + region.bPacked, b, offset, K, N, region.ldc, plan.layout === 'NT');
    return { bStored: -1, bPanels: 4 * (at + region.bPacked) }; // nothing for wasm to pack
  }
  let stored = bResident + offset * b.BYTES_PER_ELEMENT; // bytes
  if (plan.copyB) {
    const entry = b.subarray(offset, offset + K * N);
    if (entry instanceof Uint16Array) new Uint16Array(memory.buffer).set(entry, 2 * (at + region.bStored)); // bfloat16 bits, as stored
    else memory.set(entry, at + region.bStored);
    stored = 4 * (at + region.bStored);
  }
  return { bStored: stored, bPanels: plan.bAccess === 'in-place' ? stored : 4 * (at + region.bPacked) };
}

function entryAddresses(plan: ProductPlan, at: number, { bStored, bPanels }: BAddresses): EntryAddresses {
  return { a: 4 * (at + plan.region.a), bStored, bPanels, c: 4 * (at + plan.region.c) };
}

/** The epilogue's unit: the softcap map kernel runs on groups of four vectors. */
const EPILOGUE_GROUP = 16;

/**
 * C of entry z from the region at `at` into the result, without the padding
 * columns, after the epilogue. The epilogue rounds C up to whole groups: the
 * floats past it are the padding room of runProduct or the next region's A,
 * which its kernels have already read (every entry's calls run before the
 * first copy out).
 */
function copyOut({ plan, memory, out, epilogue }: Job, z: number, at: number): void {
  const { M, N } = plan.dims;
  const c = at + plan.region.c;
  const ldc = plan.region.ldc;
  if (epilogue !== undefined) simdSoftcapInPlace(c, roundUp(M * ldc, EPILOGUE_GROUP), epilogue.softcap);
  if (ldc === N) out.set(memory.subarray(c, c + M * N), z * M * N);
  else for (let m = 0; m < M; m++) out.set(memory.subarray(c + m * ldc, c + m * ldc + N), (z * M + m) * N);
}

function runCalls(calls: WasmCall[]): void {
  const kernels = getKernels();
  for (const { fn, args } of calls) kernels[fn](...args);
}

/** Every entry's calls over all of its panels, one entry after another. */
function batchCalls(plan: ProductPlan, entries: EntryAddresses[], packB: boolean): WasmCall[] {
  return entries.flatMap((entry) => entryCalls(plan, entry, packB, 0, plan.panels));
}

/** One entry's calls over panels [first, end): its panels of B packed first when `packB`, then the kernel. */
function entryCalls(plan: ProductPlan, at: EntryAddresses, packB: boolean, first: number, end: number): WasmCall[] {
  const calls = kernelCalls(plan, at, first, end);
  return packB ? [packCall(plan, at, first, end), ...calls] : calls;
}

/** pack_nn / pack_nt (or _bf16: widening) of panels [first, end): columns 8p..8p+8 of [K, N], or rows 8p..8p+8 of NT's [N, K]. */
function packCall(plan: ProductPlan, at: { bStored: number; bPanels: number }, first: number, end: number): WasmCall {
  const { K, N } = plan.dims;
  const transposed = plan.layout === 'NT';
  const bf16 = plan.bDtype === 'bfloat16';
  const bytes = bf16 ? 2 : 4; // per stored element of B
  const source = at.bStored + first * (transposed ? bytes * PANEL * K : bytes * PANEL);
  return { fn: packName(transposed, bf16), args: [source, at.bPanels + first * plan.strides.bPanel, K, transposed ? bytes * K : bytes * N, end - first] };
}

/** The kernel's calls for panels [first, end) of one entry. */
function kernelCalls(plan: ProductPlan, at: EntryAddresses, first: number, end: number): WasmCall[] {
  const { M, K } = plan.dims;
  const { aRow, aK, bRow, bPanel, cRow } = plan.strides;
  const b = at.bPanels + first * bPanel;
  const c = at.c + first * 4 * plan.panelWidth;
  const panels = end - first;
  const depth = plan.cascadeDepth;
  switch (plan.kernel) {
    case 'gemv':
      return [{ fn: gemvName(M, depth, plan.bDtype === 'bfloat16'), args: [at.a, b, c, panels, K, aRow, bRow, cRow] }];
    case 'wide':
      return [{ fn: gemmName(1, true, depth), args: [at.a, b, c, M, K, aRow, cRow, aK, bRow, panels, bPanel] }];
    case 'blocked': {
      // the 4-row kernel over chunks of row blocks, then the 1-row kernel over the last M mod 4 rows
      const calls: WasmCall[] = [];
      const fullBlocks = Math.floor(M / 4);
      for (let block = 0; block < fullBlocks; block += plan.rowBlocksPerCall) {
        const blocks = Math.min(plan.rowBlocksPerCall, fullBlocks - block);
        calls.push({ fn: gemmName(4, false, depth), args: [at.a + block * 4 * aRow, b, c + block * 4 * cRow, blocks, K, aRow, cRow, aK, bRow, panels, bPanel] });
      }
      if (M % 4 > 0) calls.push({ fn: gemmName(1, false, depth), args: [at.a + fullBlocks * 4 * aRow, b, c + fullBlocks * 4 * cRow, M % 4, K, aRow, cRow, aK, bRow, panels, bPanel] });
      return calls;
    }
  }
}

/**
 * Packs B into panels of 8 columns, panel p holding B[k][8p .. 8p+8) for every
 * k: [panels][K][8]. B is stored [K, N], or [N, K] when `transposed` (the NT
 * layout: a Linear weight). Columns past N are zero. A bfloat16 B (bits in a
 * Uint16Array) is widened as it is packed, through the memory's bits.
 */
function packPanels(memory: Float32Array, start: number, b: TypedData, offset: number, K: number, N: number, paddedN: number, transposed: boolean): void {
  if (paddedN !== N) memory.fill(0, start, start + K * paddedN);
  // the panels' elements: float32 values, or for bfloat16 the widened bits (the 16 bits as the high half)
  const [to, shift]: [Float32Array | Uint32Array, number] = b instanceof Uint16Array ? [new Uint32Array(memory.buffer), 16] : [memory, 0];
  if (transposed) {
    // B^T row n is contiguous: read it along k, write one column of its panel
    for (let n = 0; n < N; n++) {
      const base = start + Math.floor(n / PANEL) * K * PANEL + (n % PANEL);
      const row = offset + n * K;
      if (shift === 0) for (let k = 0; k < K; k++) to[base + k * PANEL] = b[row + k];
      else for (let k = 0; k < K; k++) to[base + k * PANEL] = b[row + k] << 16;
    }
  } else {
    // B row k is contiguous: read it along n, eight columns at a time into each panel
    for (let k = 0; k < K; k++) {
      const row = offset + k * N;
      if (shift === 0) for (let n = 0; n < N; n++) to[start + (n >> 3) * K * PANEL + k * PANEL + (n & 7)] = b[row + n];
      else for (let n = 0; n < N; n++) to[start + (n >> 3) * K * PANEL + k * PANEL + (n & 7)] = b[row + n] << 16;
    }
  }
}
