// The cascade order of float32 sums (kernels/sum-order.ts): its definition as
// a tree, every implementation of it bit for bit (the host loops, the GPU.js
// kernels on the webasm backend, the SIMD kernels of the CPU path), on lengths
// that cross each level of the cascade, and the accuracy it buys.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CASCADE_FAN_IN, cascadeSum } from '../kernels/sum-order.ts';
import { resetBackend, setBackend } from '../kernels/backend.ts';
import { type MatmulLayout, runMatmul } from '../kernels/matmul.ts';
import { runReduction } from '../kernels/reduce.ts';
import { runRmsNorm, runRmsNormBackward } from '../kernels/rms-norm.ts';
import { runEmbeddingScatter } from '../kernels/embedding.ts';
import { runSoftmaxBackwardRows } from '../kernels/softmax.ts';
import { matmulLimits } from '../kernels/wasm/gemm.ts';
import { simdLogSumExpRows, simdMap } from '../kernels/wasm/vector-math.ts';
import { allocateResident } from '../kernels/wasm/memory.ts';
import { onGpuJs, randomTensor } from './helpers.ts';

const f = Math.fround;

/** The definition, written as a tree: consecutive nodes in groups of 32, each group summed in order from 0, four levels, the top in order. */
function treeSum(terms: ArrayLike<number>): number {
  const sumInOrder = (values: number[]) => values.reduce((s, v) => f(s + v), 0);
  let level = Array.from(terms);
  for (let depth = 0; depth < 3; depth++) {
    const next: number[] = [];
    for (let i = 0; i < level.length; i += CASCADE_FAN_IN) next.push(sumInOrder(level.slice(i, i + CASCADE_FAN_IN)));
    level = next;
  }
  return sumInOrder(level);
}

function randomData(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  return randomTensor([n], seed, lo, hi).contiguousData() as Float32Array;
}

/** Lengths on both sides of each level: a run (32), a group (1024), a block (32768). */
const LENGTHS = [1, 2, 31, 32, 33, 1023, 1024, 1025, 2304, 32767, 32768, 32769, 70001];

describe('the cascade order: definition and host loops', () => {
  test('cascadeSum is the four-level tree of 32, bit for bit; with a second array, of the float32 products', () => {
    for (const n of [0, ...LENGTHS]) {
      const x = randomData(n, n + 1);
      const y = randomData(n, n + 2);
      expect(Object.is(cascadeSum(x, 0, n), treeSum(x)), `cascadeSum n=${n}`).toBe(true);
      expect(Object.is(cascadeSum(x, 0, n, 1, y), treeSum(x.map((v, i) => f(v * y[i])))), `products n=${n}`).toBe(true);
    }
  });

  test('strided sums read every step-th value', () => {
    const x = randomData(3 * 1500, 9);
    const every3rd = x.filter((_, i) => i % 3 === 1);
    expect(cascadeSum(x, 1, 1500, 3)).toBe(treeSum(every3rd));
  });

  test('it differs from a plain running sum, and is far more accurate over long sums', () => {
    // 0.1 added 70001 times: the running float32 sum drifts by about 1e-3 relative, the cascade stays within its bound
    const n = 70001;
    const x = new Float32Array(n).fill(0.1);
    const exact = n * f(0.1);
    const running = x.reduce((s, v) => f(s + v), 0);
    const cascade = cascadeSum(x, 0, n);
    const u = 2 ** -24;
    const bound = (31 * 3 + Math.ceil(n / 32768)) * u * exact; // (31 log32(n) + n / 2^15) roundings of at most u |partial sum|
    expect(Math.abs(running - exact)).toBeGreaterThan(bound * 10);
    expect(Math.abs(cascade - exact)).toBeLessThanOrEqual(bound);
  });
});

describe('the cascade order in the kernels, bit for bit with the host loop', () => {
  beforeAll(() => setBackend('webasm'));
  afterAll(() => resetBackend());

  /** C[m][n] as the cascade sum of A[m][k] B[k][n] (each product rounded to float32) over k. */
  function expectedProduct(layout: MatmulLayout, a: Float32Array, b: Float32Array, M: number, K: number, N: number): Float32Array {
    const out = new Float32Array(M * N);
    const terms = new Float32Array(K);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) terms[k] = f((layout === 'TN' ? a[k * M + m] : a[m * K + k]) * (layout === 'NT' ? b[n * K + k] : b[k * N + n]));
        out[m * N + n] = cascadeSum(terms, 0, K);
      }
    }
    return out;
  }

  // (M, N) pairs that reach each SIMD path: gemv (NT, M <= 4), one row against 32-column panels,
  // K at each kernel depth (one run, one group, the full cascade: wasm/cascade.ts),
  // B in place (M <= 16), packed in wasm (N % 8 == 0) or on the host (N % 8 != 0), the 4-row and 1-row kernels
  const products: [number, number, number][] = [
    [1, 1025, 4], [2, 1025, 64], [5, 1025, 8], [6, 1024, 12], [9, 2304, 16], [3, 33, 5], [1, 70001, 4], [2, 70001, 8], [5, 32, 8], [1, 32, 4], [2, 1024, 64],
  ];
  for (const layout of ['NN', 'NT', 'TN'] as MatmulLayout[]) {
    test(`matmul ${layout}: the SIMD kernels and the GPU.js kernel sum K in the cascade order`, () => {
      for (const [M, K, N] of products) {
        const a = randomData(M * K, M * K);
        const b = randomData(K * N, K + N);
        const dims = { batch: 1, M, K, N, aBatched: 1 as const, bBatched: 1 as const };
        const expected = Array.from(expectedProduct(layout, a, b, M, K, N));
        expect(Array.from(runMatmul(layout, a, b, dims)), `SIMD ${layout} ${M}x${K}x${N}`).toEqual(expected);
        const resident = allocateResident(b.length, 2 ** 30)!;
        resident.set(b);
        expect(Array.from(runMatmul(layout, a, resident, dims)), `SIMD resident ${layout} ${M}x${K}x${N}`).toEqual(expected);
        if (M * K * N <= 300_000) expect(Array.from(onGpuJs(() => runMatmul(layout, a, b, dims))), `GPU.js ${layout} ${M}x${K}x${N}`).toEqual(expected);
      }
    });
  }

  test('matmul: threaded products, batches and column slices keep the order', () => {
    const [M, K, N] = [64, 1100, 520]; // above the threading threshold
    const a = randomData(2 * M * K, 1);
    const b = randomData(K * N, 2);
    const expected = expectedProduct('NT', a.subarray(M * K), b, M, K, N);
    const batched = runMatmul('NT', a, b, { batch: 2, M, K, N, aBatched: 1, bBatched: 0 });
    expect(Array.from(batched.subarray(M * N))).toEqual(Array.from(expected));
    const saved = matmulLimits.maxScratchFloats;
    matmulLimits.maxScratchFloats = 300_000;
    try {
      const sliced = runMatmul('NT', a.subarray(M * K), b, { batch: 1, M, K, N, aBatched: 1, bBatched: 1 });
      expect(Array.from(sliced)).toEqual(Array.from(expected));
    } finally {
      matmulLimits.maxScratchFloats = saved;
    }
  });

  test('sums along an axis (host loop and GPU.js kernel), inner and outer strides', () => {
    for (const length of [33, 1025, 70001]) {
      for (const inner of [1, 3]) {
        const outer = 2;
        const x = randomData(outer * length * inner, length + inner);
        const expected = Array.from({ length: outer * inner }, (_, i) => cascadeSum(x, Math.floor(i / inner) * length * inner + (i % inner), length, inner));
        expect(Array.from(runReduction('sum', x, outer, length, inner)), `host sum ${length}x${inner}`).toEqual(expected);
        expect(Array.from(onGpuJs(() => runReduction('sum', x, outer, length, inner))), `GPU.js sum ${length}x${inner}`).toEqual(expected);
      }
    }
  });

  test('log-sum-exp: the GPU.js kernel and the host loop sum exp(x - max) in the cascade order; the SIMD rows kernel too, with its own exp', () => {
    for (const length of [33, 1025, 70001]) {
      const rows = 5; // not a multiple of the four rows the SIMD kernel takes at once
      const x = randomData(rows * length, length, -12, 12);
      const maxOf = (r: number) => x.subarray(r * length, (r + 1) * length).reduce((m, v) => Math.max(m, v), -Infinity);
      // GPU.js and the host loop (inner > 1 runs on the host) both use JavaScript's exp, rounded to float32
      const transposed = new Float32Array(rows * length);
      for (let r = 0; r < rows; r++) for (let i = 0; i < length; i++) transposed[i * rows + r] = x[r * length + i];
      const expected = Array.from({ length: rows }, (_, r) => {
        const m = maxOf(r);
        const terms = Float32Array.from(x.subarray(r * length, (r + 1) * length), (v) => f(Math.exp(f(v - m))));
        return f(m + f(Math.log(cascadeSum(terms, 0, length))));
      });
      expect(Array.from(runReduction('logSumExp', transposed, 1, length, rows)), `host lse ${length}`).toEqual(expected);
      expect(Array.from(onGpuJs(() => runReduction('logSumExp', x, rows, length, 1))), `GPU.js lse ${length}`).toEqual(expected);
      const simdExpected = Array.from({ length: rows }, (_, r) => {
        const m = maxOf(r);
        const terms = simdMap('exp', [Float32Array.from(x.subarray(r * length, (r + 1) * length), (v) => v - m)]);
        return f(m + f(Math.log(cascadeSum(terms, 0, length))));
      });
      expect(Array.from(simdLogSumExpRows(x, rows, length)), `SIMD lse ${length}`).toEqual(simdExpected);
    }
  });

  test('the SIMD log-sum-exp keeps the order when its rows are split across threads', () => {
    const [rows, length] = [22, 9000];
    const x = randomData(rows * length, 3, -5, 5);
    const out = simdLogSumExpRows(x, rows, length);
    for (const r of [0, 13, 21]) {
      const row = x.subarray(r * length, (r + 1) * length);
      const m = row.reduce((a, v) => Math.max(a, v), -Infinity);
      const terms = simdMap('exp', [Float32Array.from(row, (v) => v - m)]);
      expect(out[r]).toBe(f(m + f(Math.log(cascadeSum(terms, 0, length)))));
    }
  });

  test('RMSNorm statistic: the mean of squares in the cascade order (host loop and GPU.js kernel)', () => {
    for (const hidden of [33, 2304, 70001]) {
      const x = randomData(3 * hidden, hidden);
      const w = randomData(hidden, hidden + 1, -1, 1);
      const eps = 1e-6;
      const expected = Array.from({ length: 3 }, (_, r) => {
        const squares = Float32Array.from(x.subarray(r * hidden, (r + 1) * hidden), (v) => f(v * v));
        return f(1 / f(Math.sqrt(f(f(cascadeSum(squares, 0, hidden) / f(hidden)) + f(eps)))));
      });
      expect(Array.from(runRmsNorm(x, w, 3, hidden, eps).invRms), `host ${hidden}`).toEqual(expected);
      expect(Array.from(onGpuJs(() => runRmsNorm(x, w, 3, hidden, eps).invRms)), `GPU.js ${hidden}`).toEqual(expected);
    }
  });

  test('RMSNorm backward: sum(u x) along each row, and dw down each column over every row, in the cascade order (host loop and GPU.js kernels)', () => {
    // rows x hidden: long rows, and a column of 33000 rows (past a block of 32768)
    for (const [rows, hidden] of [[3, 2304], [33000, 3]]) {
      const x = randomData(rows * hidden, 7);
      const g = randomData(rows * hidden, 8);
      const w = randomData(hidden, 9, -1, 1);
      const r = randomData(rows, 10, 0.5, 2);
      const u = (i: number) => f(g[i] * f(w[i % hidden] + 1));
      const dx = new Float32Array(rows * hidden);
      for (let row = 0; row < rows; row++) {
        const terms = Float32Array.from({ length: hidden }, (_, j) => f(u(row * hidden + j) * x[row * hidden + j]));
        const c = f(f(r[row] * f(r[row] * r[row])) * f(cascadeSum(terms, 0, hidden) * f(1 / hidden)));
        for (let j = 0; j < hidden; j++) dx[row * hidden + j] = f(f(u(row * hidden + j) * r[row]) - f(x[row * hidden + j] * c));
      }
      const dw = Array.from({ length: hidden }, (_, j) => cascadeSum(Float32Array.from({ length: rows }, (_, row) => f(g[row * hidden + j] * f(x[row * hidden + j] * r[row]))), 0, rows));
      for (const [where, run] of [['host', (fn: () => unknown) => fn()], ['GPU.js', onGpuJs]] as const) {
        const out = run(() => runRmsNormBackward(g, x, w, r, rows, hidden, true)) as { dx: Float32Array; dw: Float32Array };
        expect(Array.from(out.dx), `${where} dx [${rows}, ${hidden}]`).toEqual(Array.from(dx));
        expect(Array.from(out.dw), `${where} dw [${rows}, ${hidden}]`).toEqual(dw);
      }
    }
  });

  test('softmax backward: sum(g y) along the row in the cascade order (host loop and GPU.js kernels)', () => {
    const [rows, length] = [2, 1100];
    const y = randomData(rows * length, 4, 0, 0.01);
    const g = randomData(rows * length, 5);
    const expected = new Float32Array(rows * length);
    for (let r = 0; r < rows; r++) {
      const products = Float32Array.from({ length }, (_, i) => f(g[r * length + i] * y[r * length + i]));
      const dot = cascadeSum(products, 0, length);
      for (let i = 0; i < length; i++) expected[r * length + i] = f(y[r * length + i] * f(g[r * length + i] - dot));
    }
    expect(Array.from(runSoftmaxBackwardRows(y, g, rows, length))).toEqual(Array.from(expected));
    expect(Array.from(onGpuJs(() => runSoftmaxBackwardRows(y, g, rows, length)))).toEqual(Array.from(expected));
  });

  test('embedding gradient: the rows of a repeated id summed in position order, in the cascade order', () => {
    const hidden = 3;
    const ids = Array.from({ length: 1100 }, (_, t) => (t % 5 === 0 ? 7 : 2)); // 220 and 880 repeats: across runs of 32
    const g = randomData(ids.length * hidden, 6);
    const { rows, distinctIds } = runEmbeddingScatter(g, hidden, ids, null);
    expect(distinctIds).toEqual([2, 7]);
    distinctIds.forEach((id, u) => {
      for (let h = 0; h < hidden; h++) {
        const terms = ids.flatMap((v, t) => (v === id ? [g[t * hidden + h]] : []));
        expect(rows[u * hidden + h]).toBe(cascadeSum(terms, 0, terms.length));
      }
    });
  });
});
