// How a SIMD matrix product runs, decided before anything touches memory:
// which microkernel (gemm-kernels.ts), how B reaches it, how the threads share
// the work, whether C is computed in column slices, the cascade depth, and
// where each operand lies in scratch. planMatmul is a pure function of the
// shapes, B's residency, the thread count and the scratch limit, so each rule
// below can be tested on its own (test/gemm-plan.test.ts); gemm.ts carries a
// plan out.
//
// Operands, per layout (no operand is ever transposed in memory):
//   A: NN/NT [M, K] rows (step along k: one float); TN [K, M] (step: a row)
//   B: NN/TN [K, N]; NT [N, K] (a Linear weight). The kernels read B either
//      in place, as stored, or packed into panels of 8 columns, [N/8][K][8]
//      (zero-padded at the right edge), by pack_nn / pack_nt in wasm or on
//      the host.
//   B may hold bfloat16 bits (a weight kept as its checkpoint stores it,
//      lib/tensor/dtype.ts): gemv reads it in place and the packing kernels
//      widen it while packing (their _bf16 variants, gemm-kernels.ts); the
//      blocked and wide kernels read only float32, so a bfloat16 B that they
//      would read in place is packed instead. A bfloat16 B copied into scratch
//      takes half the room, and its in-place strides count two-byte elements.

import { type CascadeDepth, cascadeDepth } from './cascade.ts';
import { roundUp } from './memory.ts';

/** The three layouts of a product: NN C = A B; NT C = A B^T with B stored [N, K]; TN C = A^T B with A stored [K, M]. */
export type MatmulLayout = 'NN' | 'NT' | 'TN';

/** C [batch, M, N] = the product of batch entries of A and B, with inner size K. */
export interface MatmulDims {
  batch: number;
  M: number;
  K: number;
  N: number;
  /** 1 when the operand holds `batch` matrices, 0 when one matrix serves every batch entry. */
  aBatched: 0 | 1;
  bBatched: 0 | 1;
}

/** Columns per panel of the blocked kernels and of packed B: two 4-lane vectors. */
export const PANEL = 8;
/** Columns per panel of the one-row kernel over B in place (gemm_rows1_wide): eight vectors. */
export const WIDE_PANEL = 32;
/** Output columns per unit of gemv's work: four weight rows, transposed 4 x 4 in registers. */
const GEMV_PANEL = 4;
/** Up to this many rows of A, an NT product runs on gemv_nt (and NN/TN on the wide kernel). */
const GEMV_MAX_ROWS = 4;
/** Up to this many rows of A, an NN or TN product reads B in place instead of packing it. */
const IN_PLACE_MAX_ROWS = 16;

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
 * Rows of A are taken in chunks whose K columns fit in about 128 KiB, so a
 * chunk stays in the core's L2 cache while every panel of B streams past it
 * (A whole, 512 x 256 floats, does not: on 512 x 256 x 8192 the NT product
 * went from 33 to 39 GFLOP/s and TN from 27 to 36). At most MAX_CHUNKS
 * chunks, to bound the calls per job.
 */
const CHUNK_BYTES = 128 * 1024;
const MAX_CHUNKS = 16;

/** What the planner is told besides the shapes. */
export interface PlanContext {
  /** Whether B lies in wasm memory already (a resident weight, memory.ts): then it is read where it is. */
  bResident: boolean;
  /** Threads available, the main one included (threads.ts). */
  threads: number;
  /** Floats of scratch one product may use (gemm.ts: matmulLimits). */
  maxScratchFloats: number;
  /** What B holds: float32 (the default) or bfloat16 bits, widened as the kernels read it. */
  bDtype?: BDType;
}

/** The element type of B: float32, or bfloat16 bits (a weight kept in its stored dtype). */
export type BDType = 'float32' | 'bfloat16';

/**
 * gemv: gemv_nt over four weight rows at a time (a decode step's x W^T);
 * wide: the one-row kernel over 32-column panels of B in place, once per row of A;
 * blocked: the 4-row kernel over blocks of rows of A, then the 1-row kernel over the last M mod 4.
 */
export type GemmKernel = 'gemv' | 'wide' | 'blocked';

/** How B reaches the kernel: as stored, or packed into 8-column panels in wasm (each thread its own panels) or on the host. */
export type BAccess = 'in-place' | 'wasm-packed' | 'host-packed';

/** One batch entry's region of scratch, in floats from the region's start; every part starts on a vector. */
export interface ScratchRegion {
  /** A as stored, M K floats (TN keeps [K, M]). */
  a: number;
  /** B as stored, K N floats, when it is copied in. */
  bStored: number;
  /** B packed into panels, K ldc floats, when it is packed. */
  bPacked: number;
  /** C, M rows of ldc floats. */
  c: number;
  /** Floats per row of C: N rounded up to whole panels. */
  ldc: number;
  /** The region's size. */
  floats: number;
}

/** Byte strides the kernels take. */
export interface GemmStrides {
  /** From A[r][k] to A[r + 1][k], and to A[r][k + 1] (TN's A is stored [K, M]). */
  aRow: number;
  aK: number;
  /** From one row of a panel of B to the next: a stored row when in place, 8 floats when packed. */
  bRow: number;
  /** From one panel of B to the next. */
  bPanel: number;
  /** From one row of C to the next. */
  cRow: number;
}

/** The plan for one product over all of B's columns (or one slice of them). */
export interface ProductPlan {
  layout: MatmulLayout;
  dims: MatmulDims;
  /** What B holds; bfloat16 is read by gemv_nt_bf16 in place or widened by pack_*_bf16. */
  bDtype: BDType;
  kernel: GemmKernel;
  bAccess: BAccess;
  /** Whether B is first copied into scratch as stored (it is not resident, and is read or packed in wasm). */
  copyB: boolean;
  /** 'together': every batch entry in a region of its own, all in one job; 'one-by-one': one region, reused. */
  entries: 'together' | 'one-by-one';
  /** What the threads split: whole batch entries, the panels of each entry, or nothing. */
  threading: 'entries' | 'panels' | 'none';
  /** Levels of the cascade sum over K (cascade.ts). */
  cascadeDepth: CascadeDepth;
  /** Output columns per panel, the unit of work the threads split: 4 for gemv, 32 for wide, 8 for blocked. */
  panelWidth: number;
  panels: number;
  /** 4-row blocks of A per call of the blocked kernel (L2-sized chunks); 0 for gemv and wide. */
  rowBlocksPerCall: number;
  region: ScratchRegion;
  /** Scratch for the whole product: one region, or one per batch entry when they run together. */
  scratchFloats: number;
  strides: GemmStrides;
}

/** Columns [n0, n1) of C, computed as a product of their own. */
export interface ColumnSlice {
  n0: number;
  n1: number;
  product: ProductPlan;
}

/**
 * The whole product at once, or C in column slices that each fit the scratch
 * limit. A slice of B is, for NT with one B for the batch, rows n0..n1 of the
 * stored [N, K] (a view, still resident when B is); otherwise it is gathered
 * into a dense array (NN/TN: columns n0..n1 of [K, N]; NT: those rows of each
 * batch entry).
 */
export type MatmulPlan =
  | { columns: 'all'; product: ProductPlan }
  | { columns: 'slices'; layout: MatmulLayout; dims: MatmulDims; bSlice: 'rows-view' | 'gathered'; slices: ColumnSlice[] };

/** The plan for C = the layout's product of A and B with these dims. */
export function planMatmul(layout: MatmulLayout, dims: MatmulDims, context: PlanContext): MatmulPlan {
  checkPlanInput(layout, dims, context);
  const { M, K, N } = dims;
  // The product whole when its scratch fits: what it really takes (a resident weight read in place
  // takes none, one packed in wasm takes its panels once). Else C in column slices of B, sized by an
  // upper bound (A, B twice: as stored and packed, C). The limit keeps a product's working set near
  // the cache: 8M floats (32 MiB) against 64M made bench-2b-slice prefill 0.94x and forward 0.89x
  // (interleaved, median of 7), as a 2304 x 9216 weight packs and multiplies in ~1600-column slices.
  // It also bounds wasm32 memory (4 GiB, resident weights included): gemma-2-2b's tied head is
  // 256000 x 2304 floats, 2.4 GB, and a prefill would pack all of it.
  const whole = planProduct(layout, dims, context);
  // a slice is at least one panel wide, so one panel or less is never sliced
  if (whole.scratchFloats <= context.maxScratchFloats || N <= PANEL) return { columns: 'all', product: whole };
  const width = Math.max(PANEL, Math.floor((context.maxScratchFloats - M * K) / (2 * K + M) / PANEL) * PANEL);
  const bSlice = layout === 'NT' && dims.bBatched === 0 ? 'rows-view' : 'gathered';
  const sliceContext = { ...context, bResident: context.bResident && bSlice === 'rows-view' };
  const slices: ColumnSlice[] = [];
  for (let n0 = 0; n0 < N; n0 += width) {
    const n1 = Math.min(N, n0 + width);
    slices.push({ n0, n1, product: planProduct(layout, { ...dims, N: n1 - n0 }, sliceContext) });
  }
  return { columns: 'slices', layout, dims, bSlice, slices };
}

/** The plan for a product over all of B's columns, whatever scratch it takes. */
function planProduct(layout: MatmulLayout, dims: MatmulDims, { bResident, threads, maxScratchFloats, bDtype = 'float32' }: PlanContext): ProductPlan {
  const { batch, M, K, N } = dims;
  const multiplyAdds = M * K * N; // per batch entry
  const { kernel, bAccess } = chooseKernel(layout, M, K, N, bDtype, bResident);
  const bBytes = bDtype === 'bfloat16' ? 2 : 4;
  const panelWidth = kernel === 'gemv' ? GEMV_PANEL : kernel === 'wide' ? WIDE_PANEL : PANEL;
  const panels = Math.ceil(N / panelWidth);
  // B is copied into scratch unless it lies in wasm memory already, or the host packs it straight into scratch
  const copyB = !bResident && bAccess !== 'host-packed';
  // gemv reads B in whole blocks of four rows: a copied B gets room for the last block's missing rows
  const copiedRows = kernel === 'gemv' ? roundUp(N, 4) : N;
  const region = scratchRegion(M, K, panels * panelWidth, copyB ? Math.ceil((K * copiedRows * bBytes) / 4) : 0, bAccess !== 'in-place');
  // Small products of a batch (attention's, per head) run together, each entry in its own region, so the
  // threads can take whole entries; larger ones split their panels, one entry after another. gemv
  // always runs entry by entry, splitting each entry's weight rows (by entries is not measured for it).
  const together = kernel !== 'gemv' && batch > 1 && multiplyAdds < THREADING_THRESHOLD && batch * region.floats <= maxScratchFloats;
  return {
    layout,
    dims,
    bDtype,
    kernel,
    bAccess,
    copyB,
    entries: together ? 'together' : 'one-by-one',
    threading: chooseThreading(kernel, together, batch, multiplyAdds, panels, threads),
    cascadeDepth: cascadeDepth(K),
    panelWidth,
    panels,
    rowBlocksPerCall: kernel === 'blocked' ? rowBlocksPerChunk(Math.floor(M / 4), K) : 0,
    region,
    scratchFloats: (together ? batch : 1) * region.floats,
    strides: gemmStrides(layout, kernel, bAccess, M, K, N, panelWidth, region.ldc, bBytes),
  };
}

/** The microkernel, and how B reaches it. */
function chooseKernel(layout: MatmulLayout, M: number, K: number, N: number, bDtype: BDType, bResident: boolean): { kernel: GemmKernel; bAccess: BAccess } {
  // A few rows times a weight [N, K] (decoding): packing the weight would cost more than the product;
  // gemv reads four weight rows at a time, in place (K a multiple of 4: whole 4 x 4 blocks).
  // (Over bfloat16 weights gemv takes eight k a turn: K a multiple of 8.)
  // N need not be a multiple of 4 when B is copied into scratch first: the copy gets room for the last
  // block's missing rows, whose columns of C come from whatever lies there and are never copied out (a
  // decode step's scores against 1-3 keys past a multiple of 4 would otherwise be packed on the host,
  // 4% of a bench-small decode step). A resident B is read where it lies, so there N must be whole blocks.
  const wholeBlocks = N % 4 === 0 || !bResident;
  if (layout === 'NT' && M <= GEMV_MAX_ROWS && K % (bDtype === 'bfloat16' ? 8 : 4) === 0 && wholeBlocks) return { kernel: 'gemv', bAccess: 'in-place' };
  // B [K, N] read as it is stored when few rows of A use it: packing would cost more than it saves.
  // For more rows the packed panel stays in L1 across row blocks, while in place its K rows lie a
  // whole row of B apart, which for wide B falls into a handful of cache sets (measured: 512x256x8192
  // at 25 GFLOP/s in place against 40 packed). In place needs whole 8-column panels.
  // (The wide and blocked kernels read float32 only: a bfloat16 B is packed, widened while packing.)
  if (layout !== 'NT' && M <= IN_PLACE_MAX_ROWS && N % PANEL === 0 && bDtype === 'float32') {
    // At most four rows: the one-row kernel over 32-column panels, whose eight independent sums per k
    // keep the adder busy where the 8-column kernel's two wait on each other.
    const wide = M <= GEMV_MAX_ROWS && N % WIDE_PANEL === 0;
    return { kernel: wide ? 'wide' : 'blocked', bAccess: 'in-place' };
  }
  // pack_nn and pack_nt write whole panels, and pack_nt transposes 4 x 4 blocks (K a multiple of 4);
  // any other B is packed on the host, zero-padded to whole panels
  const packsInWasm = N % PANEL === 0 && (layout !== 'NT' || K % 4 === 0);
  return { kernel: 'blocked', bAccess: packsInWasm ? 'wasm-packed' : 'host-packed' };
}

/** What the worker threads split, if anything (the thresholds above). */
function chooseThreading(kernel: GemmKernel, together: boolean, batch: number, multiplyAdds: number, panels: number, threads: number): ProductPlan['threading'] {
  // one thread: nothing to hand out
  if (threads <= 1) return 'none';
  // a batch run together: whole entries, once the batch's work is worth the hand-off
  if (together) return batch * multiplyAdds >= THREADING_THRESHOLD ? 'entries' : 'none';
  // gemv and the wide one-row kernel are bound by reading B, which two threads do faster sooner
  const threshold = kernel === 'blocked' ? THREADING_THRESHOLD : GEMV_THREADING_THRESHOLD;
  // one panel cannot be split
  return panels > 1 && multiplyAdds >= threshold ? 'panels' : 'none';
}

/** One entry's region: [A: M K][B as stored: K N elements, when copied][B packed: K ldc, when packed][C: M ldc]. */
function scratchRegion(M: number, K: number, ldc: number, bStoredFloats: number, packed: boolean): ScratchRegion {
  const a = 0;
  const bStored = roundUp(a + M * K, 4);
  const bPacked = roundUp(bStored + bStoredFloats, 4);
  const c = roundUp(bPacked + (packed ? K * ldc : 0), 4);
  return { a, bStored, bPacked, c, ldc, floats: roundUp(c + M * ldc, 4) };
}

function gemmStrides(layout: MatmulLayout, kernel: GemmKernel, bAccess: BAccess, M: number, K: number, N: number, panelWidth: number, ldc: number, bBytes: number): GemmStrides {
  const [aRow, aK] = layout === 'TN' ? [4, 4 * M] : [4 * K, 4];
  const cRow = 4 * ldc;
  // packed panels are float32 whatever B holds
  if (bAccess !== 'in-place') return { aRow, aK, bRow: 4 * PANEL, bPanel: 4 * K * PANEL, cRow };
  // in place, a panel is panelWidth columns of [K, N], or for gemv panelWidth rows of W [N, K] (bBytes per element)
  return kernel === 'gemv' ? { aRow, aK, bRow: bBytes * K, bPanel: bBytes * K * panelWidth, cRow } : { aRow, aK, bRow: bBytes * N, bPanel: bBytes * panelWidth, cRow };
}

function rowBlocksPerChunk(blocks: number, K: number): number {
  return Math.max(1, Math.floor(CHUNK_BYTES / (16 * K)), Math.ceil(blocks / MAX_CHUNKS));
}

function checkPlanInput(layout: MatmulLayout, dims: MatmulDims, context: PlanContext): void {
  if (!['NN', 'NT', 'TN'].includes(layout)) throw new RangeError(`simdMatmul: unknown layout "${layout}" (expected NN, NT or TN)`);
  for (const size of ['batch', 'M', 'K', 'N'] as const) {
    if (!Number.isInteger(dims[size]) || dims[size] < 1) throw new RangeError(`simdMatmul: ${size} must be a positive integer, got ${dims[size]}`);
  }
  for (const flag of ['aBatched', 'bBatched'] as const) {
    if (dims[flag] !== 0 && dims[flag] !== 1) throw new RangeError(`simdMatmul: ${flag} must be 0 or 1, got ${dims[flag]}`);
  }
  if (!Number.isInteger(context.threads) || context.threads < 1) throw new RangeError(`simdMatmul: threads must be a positive integer, got ${context.threads}`);
}
