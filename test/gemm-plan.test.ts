// The SIMD matmul's plan (kernels/wasm/gemm-plan.ts) on its own: for the
// shapes a Gemma2 forward, backward and decode step give it, which kernel
// runs, how B reaches it, how the threads share the work, when C is sliced,
// and where the operands lie in scratch. That a plan is carried out with the
// GPU.js kernels' bits is test/cpu-path.test.ts's job.

import { describe, expect, test } from 'vitest';
import { type MatmulDims, type MatmulLayout, type PlanContext, type ProductPlan, planMatmul } from '../kernels/wasm/gemm-plan.ts';

const SCRATCH_LIMIT = 8 * 2 ** 20; // gemm.ts's matmulLimits.maxScratchFloats

const dims = (M: number, K: number, N: number, more: Partial<MatmulDims> = {}): MatmulDims => ({ batch: 1, M, K, N, aBatched: 0, bBatched: 0, ...more });
const context = (more: Partial<PlanContext> = {}): PlanContext => ({ bResident: false, threads: 2, maxScratchFloats: SCRATCH_LIMIT, ...more });
/** A limit no product here reaches, to see how a large product runs whole. */
const unsliced = context({ maxScratchFloats: 2 ** 31 });

/** The plan of a product that fits the scratch limit. */
function productPlan(layout: MatmulLayout, d: MatmulDims, c: PlanContext = context()): ProductPlan {
  const plan = planMatmul(layout, d, c);
  if (plan.columns !== 'all') throw new Error(`expected the whole product at once, got ${plan.slices.length} column slices`);
  return plan.product;
}

describe('B kept in bfloat16', () => {
  const bf16 = (more: Partial<PlanContext> = {}) => context({ bDtype: 'bfloat16', ...more });

  test('a decode step over a resident bf16 weight: gemv over it in place, two bytes a weight', () => {
    const plan = productPlan('NT', dims(1, 2304, 9216), bf16({ bResident: true }));
    expect(plan).toMatchObject({ bDtype: 'bfloat16', kernel: 'gemv', bAccess: 'in-place', copyB: false, threading: 'panels' });
    expect(plan.strides).toEqual({ aRow: 4 * 2304, aK: 4, bRow: 2 * 2304, bPanel: 2 * 4 * 2304, cRow: 4 * 9216 });
    // an ordinary bf16 weight is copied in as it is: half the scratch of float32
    const copied = productPlan('NT', dims(1, 2304, 1024), bf16());
    expect(copied).toMatchObject({ kernel: 'gemv', copyB: true });
    expect(copied.region.c).toBe(2304 + (2304 * 1024) / 2);
    // eight k a turn over bf16: K a multiple of 8, else the weight is packed (widened) like a prefill's
    expect(productPlan('NT', dims(1, 36, 1024))).toMatchObject({ kernel: 'gemv' });
    expect(productPlan('NT', dims(1, 36, 1024), bf16())).toMatchObject({ kernel: 'blocked', bAccess: 'wasm-packed' });
  });

  test('NN and TN never read bf16 B in place (the blocked and wide kernels read float32): packed, widened while packing', () => {
    for (const layout of ['NN', 'TN'] as const) {
      expect(productPlan(layout, dims(3, 64, 256))).toMatchObject({ kernel: 'wide', bAccess: 'in-place' });
      expect(productPlan(layout, dims(3, 64, 256), bf16())).toMatchObject({ kernel: 'blocked', bAccess: 'wasm-packed', copyB: true });
      expect(productPlan(layout, dims(16, 64, 256), bf16({ bResident: true }))).toMatchObject({ kernel: 'blocked', bAccess: 'wasm-packed', copyB: false });
      // packed panels are float32 whatever B holds
      expect(productPlan(layout, dims(3, 64, 256), bf16()).strides).toMatchObject({ bRow: 4 * 8, bPanel: 4 * 64 * 8 });
      expect(productPlan(layout, dims(3, 64, 100), bf16())).toMatchObject({ bAccess: 'host-packed', copyB: false });
    }
    expect(productPlan('NT', dims(40, 64, 128), bf16())).toMatchObject({ bAccess: 'wasm-packed', copyB: true });
    expect(productPlan('NT', dims(40, 64, 128), bf16()).region.bPacked).toBe(40 * 64 + (64 * 128) / 2);
  });

  test('the tied head of a bf16 model: whole on gemv when decoding, slices of its rows, still resident, in a prefill', () => {
    expect(productPlan('NT', dims(1, 2304, 256000), bf16({ bResident: true }))).toMatchObject({ bDtype: 'bfloat16', kernel: 'gemv', copyB: false });
    const plan = planMatmul('NT', dims(128, 2304, 256000), bf16({ bResident: true }));
    if (plan.columns !== 'slices') throw new Error('expected column slices');
    expect(plan.bSlice).toBe('rows-view');
    expect(plan.slices[0].product).toMatchObject({ bDtype: 'bfloat16', kernel: 'blocked', bAccess: 'wasm-packed', copyB: false });
  });
});

describe('the kernel and how B reaches it', () => {
  test('a decode step x W^T with W resident: gemv over W in place, its weight rows split across threads', () => {
    const plan = productPlan('NT', dims(1, 2304, 9216), context({ bResident: true }));
    expect(plan).toMatchObject({ kernel: 'gemv', bAccess: 'in-place', copyB: false, entries: 'one-by-one', threading: 'panels', cascadeDepth: 3 });
    // panels of four weight rows; nothing of W in scratch
    expect(plan).toMatchObject({ panelWidth: 4, panels: 2304, rowBlocksPerCall: 0 });
    expect(plan.region).toEqual({ a: 0, bStored: 2304, bPacked: 2304, c: 2304, ldc: 9216, floats: 2304 + 9216 });
    expect(plan.strides).toEqual({ aRow: 4 * 2304, aK: 4, bRow: 4 * 2304, bPanel: 4 * 4 * 2304, cRow: 4 * 9216 });
    // an ordinary W is copied in first
    const copied = productPlan('NT', dims(1, 2304, 1024));
    expect(copied).toMatchObject({ kernel: 'gemv', copyB: true });
    expect(copied.region.c).toBe(2304 + 2304 * 1024);
  });

  test('gemv takes up to four rows, K in whole 4 x 4 blocks, and N in whole blocks unless B is copied in', () => {
    for (const M of [1, 2, 3, 4]) expect(productPlan('NT', dims(M, 256, 1024)).kernel).toBe('gemv');
    expect(productPlan('NT', dims(5, 256, 1024))).toMatchObject({ kernel: 'blocked', bAccess: 'wasm-packed' });
    expect(productPlan('NT', dims(1, 30, 1024))).toMatchObject({ kernel: 'blocked', bAccess: 'host-packed' });
    // a decode step's scores against 129 keys: the copy of K gets room for three more rows, read and never copied out
    const scores = productPlan('NT', dims(2, 64, 129, { batch: 2, aBatched: 1, bBatched: 1 }));
    expect(scores).toMatchObject({ kernel: 'gemv', bAccess: 'in-place', copyB: true, panels: 33 });
    expect(scores.region.bPacked - scores.region.bStored).toBe(64 * 132);
    expect(scores.region.ldc).toBe(132);
    // a resident B is read where it lies: only whole blocks of four rows
    expect(productPlan('NT', dims(1, 256, 1022), context({ bResident: true }))).toMatchObject({ kernel: 'blocked', bAccess: 'host-packed' });
  });

  test('3 rows against B [K, 256] in place: the wide one-row kernel over 32-column panels', () => {
    for (const layout of ['NN', 'TN'] as const) {
      const plan = productPlan(layout, dims(3, 64, 256));
      expect(plan).toMatchObject({ kernel: 'wide', bAccess: 'in-place', copyB: true, panelWidth: 32, panels: 8, cascadeDepth: 1 });
      // B's rows as stored, 32 columns further per panel; TN's A is [K, M]
      expect(plan.strides).toEqual(layout === 'NN' ? { aRow: 4 * 64, aK: 4, bRow: 4 * 256, bPanel: 4 * 32, cRow: 4 * 256 } : { aRow: 4, aK: 4 * 3, bRow: 4 * 256, bPanel: 4 * 32, cRow: 4 * 256 });
      expect(productPlan(layout, dims(3, 64, 256), context({ bResident: true })).copyB).toBe(false);
    }
  });

  test('NN and TN read B in place up to 16 rows of A in whole 8-column panels, and pack it beyond', () => {
    expect(productPlan('NN', dims(3, 64, 264))).toMatchObject({ kernel: 'blocked', bAccess: 'in-place', panelWidth: 8, panels: 33 });
    expect(productPlan('TN', dims(16, 64, 256))).toMatchObject({ kernel: 'blocked', bAccess: 'in-place' });
    expect(productPlan('NN', dims(17, 64, 256))).toMatchObject({ kernel: 'blocked', bAccess: 'wasm-packed', copyB: true });
    expect(productPlan('NN', dims(17, 64, 256), context({ bResident: true }))).toMatchObject({ bAccess: 'wasm-packed', copyB: false });
    // N not a multiple of 8: packed on the host at any M, zero-padded to whole panels
    for (const M of [3, 40]) expect(productPlan('NN', dims(M, 64, 100))).toMatchObject({ kernel: 'blocked', bAccess: 'host-packed', copyB: false, panels: 13 });
  });

  test('an NT product with K not a multiple of 4 is packed on the host, resident or not', () => {
    for (const bResident of [false, true]) {
      const plan = productPlan('NT', dims(40, 30, 100), context({ bResident }));
      expect(plan).toMatchObject({ kernel: 'blocked', bAccess: 'host-packed', copyB: false });
      // nothing copied as stored: the host writes the panels, 104 columns wide, straight into scratch
      expect(plan.region).toEqual({ a: 0, bStored: 1200, bPacked: 1200, c: 1200 + 30 * 104, ldc: 104, floats: 1200 + 30 * 104 + 40 * 104 });
      expect(plan.strides).toEqual({ aRow: 4 * 30, aK: 4, bRow: 4 * 8, bPanel: 4 * 30 * 8, cRow: 4 * 104 });
    }
  });

  test('scratch: A, B as stored, B packed and C each start on a vector', () => {
    const plan = productPlan('NN', dims(21, 9, 16));
    expect(plan).toMatchObject({ bAccess: 'wasm-packed', copyB: true });
    // A 189 floats, B 144 as stored, 144 packed, C 21 x 16
    expect(plan.region).toEqual({ a: 0, bStored: 192, bPacked: 336, c: 480, ldc: 16, floats: 816 });
    expect(plan.scratchFloats).toBe(816);
  });
});

describe('threads, batches and row chunks', () => {
  test('a batch of small attention products runs together, whole entries per thread', () => {
    // scores = q k^T for 8 heads of 128 positions, head_dim 256: 4.2M multiply-adds each, 33.6M in all
    const heads = dims(128, 256, 128, { batch: 8, aBatched: 1, bBatched: 1 });
    const plan = productPlan('NT', heads);
    expect(plan).toMatchObject({ kernel: 'blocked', bAccess: 'wasm-packed', entries: 'together', threading: 'entries' });
    expect(plan.scratchFloats).toBe(8 * plan.region.floats);
    // fewer heads: still together, not worth a hand-off; one thread: none either
    expect(productPlan('NT', { ...heads, batch: 2 })).toMatchObject({ entries: 'together', threading: 'none' });
    expect(productPlan('NT', heads, context({ threads: 1 }))).toMatchObject({ entries: 'together', threading: 'none' });
    // their regions past the scratch limit: one entry after another, each too small to split
    const tight = productPlan('NT', heads, context({ maxScratchFloats: 8 * plan.region.floats - 1 }));
    expect(tight).toMatchObject({ entries: 'one-by-one', threading: 'none', scratchFloats: plan.region.floats });
  });

  test('a large product splits its panels, one entry after another', () => {
    for (const layout of ['NN', 'NT', 'TN'] as const) {
      expect(productPlan(layout, dims(512, 256, 8192, { batch: 2, aBatched: 1 }), unsliced)).toMatchObject({ entries: 'one-by-one', threading: 'panels' });
    }
    // from 2^25 multiply-adds on
    expect(productPlan('NN', dims(256, 512, 256)).threading).toBe('panels');
    expect(productPlan('NN', dims(256, 512, 255)).threading).toBe('none');
    // one panel cannot be split
    expect(productPlan('NN', dims(4096, 1024, 8)).threading).toBe('none');
    expect(productPlan('NN', dims(512, 256, 8192), { ...unsliced, threads: 1 }).threading).toBe('none');
  });

  test('gemv and the wide kernel, bound by reading B, split from 2^21 multiply-adds', () => {
    expect(productPlan('NT', dims(1, 2048, 1024)).threading).toBe('panels');
    expect(productPlan('NT', dims(1, 2048, 1020)).threading).toBe('none');
    expect(productPlan('NN', dims(2, 1024, 1024))).toMatchObject({ kernel: 'wide', threading: 'panels' });
    expect(productPlan('NN', dims(8, 1024, 256))).toMatchObject({ kernel: 'blocked', threading: 'none' });
    // gemv runs a batch entry by entry
    expect(productPlan('NT', dims(1, 256, 128, { batch: 8, aBatched: 1, bBatched: 1 }))).toMatchObject({ kernel: 'gemv', entries: 'one-by-one' });
  });

  test('rows of A in L2-sized chunks, at most 16 calls of the 4-row kernel per panel range', () => {
    expect(productPlan('NN', dims(512, 256, 8192), unsliced).rowBlocksPerCall).toBe(32); // 32 blocks x 4 rows x 256 floats = 128 KiB
    expect(productPlan('NN', dims(4096, 4096, 64), unsliced).rowBlocksPerCall).toBe(64); // 1024 blocks in 16 calls
    expect(productPlan('NN', dims(40, 100000, 64), unsliced).rowBlocksPerCall).toBe(1); // one block of 4 rows is already 1.6 MB
  });

  test('the cascade depth follows K: one run, one group, or the full cascade', () => {
    expect([32, 33, 1024, 1025].map((K) => productPlan('NN', dims(20, K, 64)).cascadeDepth)).toEqual([0, 1, 1, 3]);
  });
});

describe('column slices', () => {
  test("the limit counts the scratch a product really takes: a resident weight read in place takes none", () => {
    // gemma-2-2b's tied head, 2.4 GB of float32, decoded over in place: whole, A and C in scratch only
    const head = productPlan('NT', dims(1, 2304, 256000), context({ bResident: true }));
    expect(head).toMatchObject({ kernel: 'gemv', copyB: false, scratchFloats: 2304 + 256000 });
    // the same weight not resident would be copied in: sliced
    expect(planMatmul('NT', dims(1, 2304, 256000), context()).columns).toBe('slices');
    // a prefill's 2304 x 9216 weight, resident, packs 21M floats: past 8M, sliced
    expect(planMatmul('NT', dims(128, 2304, 9216), context({ bResident: true })).columns).toBe('slices');
  });

  test("gemma-2-2b's tied head in a prefill: slices of W's rows, still resident, each packed on its own", () => {
    const M = 128;
    const plan = planMatmul('NT', dims(M, 2304, 256000), context({ bResident: true }));
    if (plan.columns !== 'slices') throw new Error('expected column slices');
    expect(plan.bSlice).toBe('rows-view');
    const width = Math.floor((SCRATCH_LIMIT - M * 2304) / (2 * 2304 + M) / 8) * 8;
    expect(plan.slices[0]).toMatchObject({ n0: 0, n1: width });
    // contiguous slices covering every column, each fitting the limit and reading W where it is
    expect(plan.slices.map((s) => s.n0)).toEqual(plan.slices.map((_, i) => i * width));
    expect(plan.slices.at(-1)!.n1).toBe(256000);
    for (const { n0, n1, product } of plan.slices) {
      expect(product).toMatchObject({ kernel: 'blocked', bAccess: 'wasm-packed', copyB: false, dims: { N: n1 - n0 } });
      expect(product.scratchFloats).toBeLessThanOrEqual(SCRATCH_LIMIT);
    }
  });

  test('NN and TN slices, and NT slices of a batched B, are gathered: copied in, each slice planned for its own width', () => {
    for (const [layout, bBatched] of [['NN', 0], ['TN', 0], ['NT', 1]] as const) {
      const plan = planMatmul(layout, dims(3, 40, 77, { batch: 2, aBatched: 1, bBatched }), context({ maxScratchFloats: 3000 }));
      if (plan.columns !== 'slices') throw new Error('expected column slices');
      expect(plan.bSlice).toBe('gathered');
      expect(plan.slices.map((s) => [s.n0, s.n1])).toEqual([[0, 32], [32, 64], [64, 77]]);
      // a gathered slice is an ordinary array: not resident; the last 13 columns are packed on the host
      // (NT's 3 rows: gemv over the copy, which has room for the last block's missing row)
      expect(plan.slices[0].product.bAccess).not.toBe('host-packed');
      expect(plan.slices[0].product.copyB).toBe(true);
      expect(plan.slices[2].product).toMatchObject(layout === 'NT' ? { kernel: 'gemv', copyB: true } : { bAccess: 'host-packed' });
    }
  });

  test('a slice is at least one panel: one panel or less is never sliced, and tiny limits give 8-column slices', () => {
    expect(planMatmul('NN', dims(1000, 1000, 8), context({ maxScratchFloats: 1000 })).columns).toBe('all');
    const plan = planMatmul('NN', dims(100, 100, 20), context({ maxScratchFloats: 1000 }));
    if (plan.columns !== 'slices') throw new Error('expected column slices');
    expect(plan.slices.map((s) => [s.n0, s.n1])).toEqual([[0, 8], [8, 16], [16, 20]]);
  });
});

describe('bad input', () => {
  test('sizes, batch flags, layout and thread count are checked with a message naming them', () => {
    expect(() => planMatmul('NN', dims(0, 4, 4), context())).toThrow('simdMatmul: M must be a positive integer, got 0');
    expect(() => planMatmul('NN', dims(2, 2.5, 4), context())).toThrow('simdMatmul: K must be a positive integer, got 2.5');
    expect(() => planMatmul('NN', dims(2, 4, 4, { batch: -1 }), context())).toThrow('simdMatmul: batch must be a positive integer, got -1');
    expect(() => planMatmul('NN', dims(2, 4, 4, { bBatched: 2 as 1 }), context())).toThrow('simdMatmul: bBatched must be 0 or 1, got 2');
    expect(() => planMatmul('TT' as MatmulLayout, dims(2, 4, 4), context())).toThrow('simdMatmul: unknown layout "TT" (expected NN, NT or TN)');
    expect(() => planMatmul('NN', dims(2, 4, 4), context({ threads: 0 }))).toThrow('simdMatmul: threads must be a positive integer, got 0');
  });
});
