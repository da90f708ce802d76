// The CPU path of the webasm backend (kernels/backend.ts, kernels/registry.ts):
// hand-written SIMD kernels (kernels/wasm/) and generated host loops in place
// of GPU.js launches. Each is checked against what it replaces, the GPU.js
// kernels on the same backend: bit for bit where the path claims the same float32
// operations in the same order (matmul, single-operation formulas, sums,
// max, AdamW, SGD), within the stated tolerance where it computes differently
// (polynomial exp/tanh, lane-parallel sums), and against the float64
// reference on the values that break naive code (NaN, infinities, overflow,
// underflow, masked rows).

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as ops from '../lib/ops/index.ts';
import * as R from '../reference/index.ts';
import { Tensor } from '../lib/tensor/tensor.ts';
import { tensor } from '../lib/tensor/creation.ts';
import { resetBackend, setBackend, setResidentBudget, withThreads } from '../kernels/backend.ts';
import { type MatmulLayout, runMatmul } from '../kernels/matmul.ts';
import { runCrossEntropyGrad } from '../kernels/cross-entropy.ts';
import { runReduction } from '../kernels/reduce.ts';
import { runElementwise } from '../kernels/elementwise.ts';
import { allocateResident, residentByteOffset, residentBytes, residentOffset } from '../kernels/wasm/memory.ts';
import { roundToBfloat16, widenBfloat16 } from '../lib/tensor/dtype.ts';
import { matmulLimits } from '../kernels/wasm/gemm.ts';
import { vectorMathLimits } from '../kernels/wasm/vector-math.ts';
import { TOLERANCES } from '../kernels/tolerances.ts';
import { parseGemma2Config } from '../lib/model/config.ts';
import { Gemma2ForCausalLM } from '../lib/model/causal-lm.ts';
import { noGrad } from '../lib/autograd/tape.ts';
import { expectClose, findMismatch, onGpuJs, randomTensor, toRef } from './helpers.ts';

function randomData(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  return randomTensor([n], seed, lo, hi).contiguousData() as Float32Array;
}

beforeAll(() => setBackend('webasm'));
afterAll(() => resetBackend());
afterEach(() => {
  resetBackend();
  setBackend('webasm');
});

describe('SIMD exp, tanh, softcap and GELU (wasm/vector-math.ts)', () => {
  const cases: [string, (x: Tensor) => Tensor, (x: number) => number][] = [
    ['exp', ops.exp, Math.exp],
    ['tanh', ops.tanh, Math.tanh],
    ['softcap 30', (x) => ops.softcap(x, 30), (v) => 30 * Math.tanh(v / 30)],
    ['geluTanh', ops.geluTanh, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
  ];
  for (const [name, run, exact] of cases) {
    test(`${name}: within the transcendental tolerance from -80 to 80, over every polynomial branch`, () => {
      // lengths that are not a multiple of the 16-float unrolled group, and both threading sides
      for (const [n, seed] of [[1, 1], [37, 2], [70_001, 3]] as const) {
        const x = randomTensor([n], seed, -80, 80);
        const close = randomTensor([n], seed + 10, -1, 1); // the |x| < 0.625 tanh branch and exp near 1
        for (const input of [x, close]) {
          const expected = { shape: [n], data: Float64Array.from(input.contiguousData(), exact) };
          expectClose(run(input), expected, TOLERANCES.transcendental, name);
        }
      }
    });
  }

  test('special values: NaN stays NaN, exp overflows to infinity and underflows to 0, tanh saturates with its sign', () => {
    const x = tensor([NaN, Infinity, -Infinity, 0, -0, 88.7, 88.73, 200, -86, -87, -104, -3.4e38, 1e-30, -1e-30, 44, -44]);
    const e = ops.exp(x).toArray() as number[];
    expect(e[0]).toBeNaN();
    expect(e.slice(1, 5)).toEqual([Infinity, 0, 1, 1]);
    expect(Math.abs(e[5] / Math.exp(Math.fround(88.7)) - 1)).toBeLessThan(TOLERANCES.transcendental.rtol); // 3.3e38, still finite
    expect(e.slice(6, 8)).toEqual([Infinity, Infinity]);
    expect(e[8] / Math.exp(-86)).toBeCloseTo(1, 5);
    expect(e.slice(9, 12)).toEqual([0, 0, 0]); // below 2^-124.8 the result is flushed to 0
    expect(e.slice(12, 14)).toEqual([1, 1]);
    const t = ops.tanh(x).toArray() as number[];
    expect(t[0]).toBeNaN();
    expect(t.slice(1, 5)).toEqual([1, -1, 0, -0]);
    expect(Object.is(t[4], -0)).toBe(true);
    expect(t.slice(14)).toEqual([1, -1]);
    expect(t[12]).toBe(Math.fround(1e-30));
    const g = ops.geluTanh(x).toArray() as number[];
    expect(g[0]).toBeNaN();
    expect(g[1]).toBe(Infinity);
    expect(g[14]).toBe(44);
    expect(g[15]).toBe(-0);
  });

  test('the softcap gradient (SIMD, no transcendental) gives the GPU.js webasm bits', () => {
    const y = randomData(1001, 51, -2.4, 2.4);
    const g = randomData(1001, 52);
    const layout = { output: [1001, 1, 1] as [number, number, number], follows: [[true, false, false], [true, false, false]] as [boolean, boolean, boolean][] };
    const expected = onGpuJs(() => runElementwise('softcapGrad', layout, [y, g], 2.5));
    expect(Array.from(runElementwise('softcapGrad', layout, [y, g], 2.5))).toEqual(Array.from(expected));
  });

  test('the GELU gradient and the softcap gradient match finite differences of the reference', () => {
    const x = randomTensor([2, 301], 5, -6, 6).requireGrad();
    ops.softcap(ops.geluTanh(x), 2.5).backward(randomTensor([2, 301], 6));
    const f = (v: number) => 2.5 * Math.tanh(R.geluTanh({ shape: [1], data: Float64Array.of(v) }).data[0] / 2.5);
    const w = randomTensor([2, 301], 6).contiguousData();
    const expected = Float64Array.from(x.contiguousData(), (v, i) => ((f(v + 1e-5) - f(v - 1e-5)) / 2e-5) * w[i]);
    expectClose(x.grad!, { shape: [2, 301], data: expected }, TOLERANCES.gradient, 'd softcap(gelu(x))');
  });
});

describe('SIMD row kernels: log-sum-exp, softmax, cross-entropy gradient', () => {
  test('log-sum-exp and softmax rows match the reference for lengths around the 16-float groups', () => {
    for (const length of [1, 3, 15, 16, 17, 129, 8192]) {
      const x = randomTensor([5, length], length, -8, 8);
      expectClose(ops.logSumExp(x, 1), R.logSumExp(toRef(x), 1), TOLERANCES.softmax, `logSumExp length ${length}`);
      expectClose(ops.softmax(x, 1), R.softmax(toRef(x), 1), TOLERANCES.softmax, `softmax length ${length}`);
    }
  });

  test('masked rows: an all -inf row has log-sum-exp -inf and softmax NaN; float32-min masking gives exact zeros', () => {
    const min = -3.4028234663852886e38;
    const x = tensor([
      [-Infinity, -Infinity, -Infinity],
      [1, min, 2],
      [Infinity, 0, 1],
    ]);
    expect(ops.logSumExp(x, 1).toArray()).toEqual([-Infinity, Math.fround(2 + Math.log(1 + Math.exp(-1))), Infinity]);
    const p = ops.softmax(x, 1).toArray() as number[][];
    expect(p[0].every(Number.isNaN)).toBe(true);
    expect(p[1][1]).toBe(0);
    expect(p[2].every(Number.isNaN)).toBe(true);
  });

  test('arrays past the scratch limit run in pieces with the same results', () => {
    const x = randomTensor([7, 333], 21, -9, 9);
    const whole = [ops.softcap(x, 3), ops.softmax(x, 1), ops.logSumExp(x, 1)].map((t) => Array.from(t.contiguousData()));
    const saved = vectorMathLimits.maxChunkValues;
    vectorMathLimits.maxChunkValues = 500; // one row, or 500 values, per piece
    try {
      const pieces = [ops.softcap(x, 3), ops.softmax(x, 1), ops.logSumExp(x, 1)].map((t) => Array.from(t.contiguousData()));
      expect(pieces).toEqual(whole);
    } finally {
      vectorMathLimits.maxChunkValues = saved;
    }
  });

  test('the cross-entropy gradient matches the GPU.js kernel within tolerance, ignored rows exactly 0', () => {
    const [rows, classes] = [6, 1003];
    const logits = randomData(rows * classes, 7, -10, 10);
    const targets = Int32Array.of(3, -100, 1002, 0, 500, -100);
    const lse = runReduction('logSumExp', logits, rows, classes, 1);
    const rowGrad = randomData(rows, 8);
    const simd = runCrossEntropyGrad(logits, rows, classes, targets, lse, rowGrad, -100);
    const gpujs = onGpuJs(() => runCrossEntropyGrad(logits, rows, classes, targets, lse, rowGrad, -100));
    expect(findMismatch(simd, gpujs, TOLERANCES.softmax)).toBeNull();
    expect(simd.subarray(classes, 2 * classes).every((v) => v === 0)).toBe(true);
  });
});

describe('SIMD matmul: every way of placing B gives the GPU.js kernel bits', () => {
  // gemv (NT, M <= 4), B in place (NN/TN, M <= 16; 32-column panels for M <= 4), packed in wasm (N % 8 == 0), packed on the host;
  // batches of small products run an entry per thread, large ones (the last two) split their panels
  const shapes: [number, number, number][] = [[1, 64, 36], [3, 20, 8], [4, 256, 100], [12, 33, 64], [16, 9, 24], [40, 64, 128], [37, 30, 21], [129, 100, 96], [2, 50, 64], [4, 33, 96], [40, 300, 400], [41, 256, 403]];
  for (const layout of ['NN', 'NT', 'TN'] as MatmulLayout[]) {
    test(`${layout}: gemv, in place, wasm-packed and host-packed products, B shared or batched, ordinary or resident`, () => {
      for (const [M, K, N] of shapes) {
        for (const bBatched of [0, 1] as const) {
          const batch = 2;
          const a = randomData(batch * M * K, M + K);
          const b = randomData((bBatched ? batch : 1) * K * N, N);
          const dims = { batch, M, K, N, aBatched: 1 as const, bBatched };
          const expected = onGpuJs(() => runMatmul(layout, a, b, dims));
          expect(Array.from(runMatmul(layout, a, b, dims)), `${layout} ${M}x${K}x${N}`).toEqual(Array.from(expected));
          const resident = allocateResident(b.length, 2 ** 30)!;
          resident.set(b);
          expect(residentOffset(resident)).toBeGreaterThanOrEqual(0);
          expect(Array.from(runMatmul(layout, a, resident, dims)), `${layout} ${M}x${K}x${N} resident`).toEqual(Array.from(expected));
        }
      }
    });
  }

  test('a product too big for the scratch limit runs in column slices with the same bits', () => {
    const saved = matmulLimits.maxScratchFloats;
    matmulLimits.maxScratchFloats = 3000; // slices of 16-32 columns for these shapes
    try {
      for (const layout of ['NN', 'NT', 'TN'] as MatmulLayout[]) {
        for (const [M, K, N] of [[1, 64, 100], [3, 40, 77], [20, 48, 64]] as const) {
          for (const bBatched of [0, 1] as const) {
            const a = randomData(2 * M * K, M + K + 1);
            const b = randomData((bBatched ? 2 : 1) * K * N, N + 1);
            const dims = { batch: 2, M, K, N, aBatched: 1 as const, bBatched };
            const expected = onGpuJs(() => runMatmul(layout, a, b, dims));
            expect(Array.from(runMatmul(layout, a, b, dims)), `${layout} ${M}x${K}x${N} sliced`).toEqual(Array.from(expected));
          }
        }
      }
    } finally {
      matmulLimits.maxScratchFloats = saved;
    }
  });

  test('threaded gemv, panels and batch entries give the single-thread bits', () => {
    // above the threading thresholds of wasm/gemm-plan.ts: gemv from 2^21 multiply-adds, gemm from 2^25
    const cases = [['NT', 1, 1, 2304, 1024], ['NT', 1, 3, 1024, 1000], ['NN', 1, 256, 512, 256], ['NT', 1, 256, 512, 264], ['TN', 1, 264, 512, 256], ['NN', 4, 128, 256, 256], ['NT', 5, 100, 256, 264], ['NN', 1, 2, 1024, 1024]] as const;
    for (const [layout, batch, M, K, N] of cases) {
      const a = randomData(batch * M * K, M);
      const b = randomData(batch * K * N, N);
      const dims = { batch, M, K, N, aBatched: 1 as const, bBatched: 1 as const };
      const single = withThreads(1, () => runMatmul(layout, a, b, dims));
      expect(Array.from(withThreads(2, () => runMatmul(layout, a, b, dims))), `${layout} ${batch}x${M}x${K}x${N}`).toEqual(Array.from(single));
    }
  });
});

describe('SIMD matmul over bfloat16 B (weights kept as stored): the bits of the same B widened to float32', () => {
  // B as bfloat16 bits: gemv_nt_bf16 in place (NT, M <= 4), widened while packing in wasm (pack_*_bf16) or on the host,
  // and packed where float32 B would be read in place (NN/TN, M <= 16); ordinary arrays copied into scratch as bf16,
  // or resident in wasm memory as bf16
  const shapes: [number, number, number][] = [[1, 64, 36], [2, 64, 36], [3, 64, 36], [4, 64, 36], [1, 1100, 8], [1, 40000, 8], [3, 20, 8], [4, 256, 100], [12, 33, 64], [16, 9, 24], [40, 64, 128], [37, 30, 21], [2, 50, 64], [1, 30, 1024], [1, 256, 1022]];
  const bf16Pair = (n: number, seed: number) => {
    const bits = roundToBfloat16(randomData(n, seed));
    return { bits, float: widenBfloat16(bits) };
  };
  for (const layout of ['NN', 'NT', 'TN'] as MatmulLayout[]) {
    test(`${layout}: every plan, B shared or batched, ordinary or resident, one thread or two`, () => {
      for (const [M, K, N] of shapes) {
        for (const bBatched of [0, 1] as const) {
          const batch = 2;
          const a = randomData(batch * M * K, M + K);
          const { bits, float } = bf16Pair((bBatched ? batch : 1) * K * N, N);
          const dims = { batch, M, K, N, aBatched: 1 as const, bBatched };
          const expected = Array.from(runMatmul(layout, a, float, dims));
          const resident = allocateResident(bits.length, 2 ** 30, 'bfloat16')!;
          resident.set(bits);
          expect(residentByteOffset(resident)).toBeGreaterThanOrEqual(0);
          for (const threads of [1, 2]) {
            const where = `${layout} ${M}x${K}x${N} bBatched ${bBatched}, ${threads} thread(s)`;
            expect(Array.from(withThreads(threads, () => runMatmul(layout, a, bits, dims))), where).toEqual(expected);
            expect(Array.from(withThreads(threads, () => runMatmul(layout, a, resident, dims))), `${where}, resident`).toEqual(expected);
          }
        }
      }
    });
  }

  test('column slices (rows of a resident bf16 weight, or gathered columns) and threaded gemv give the same bits', () => {
    const saved = matmulLimits.maxScratchFloats;
    matmulLimits.maxScratchFloats = 3000;
    try {
      for (const layout of ['NN', 'NT', 'TN'] as MatmulLayout[]) {
        for (const [M, K, N] of [[1, 64, 100], [3, 40, 77], [20, 48, 64]] as const) {
          for (const bBatched of [0, 1] as const) {
            const a = randomData(2 * M * K, M + K + 1);
            const { bits, float } = bf16Pair((bBatched ? 2 : 1) * K * N, N + 1);
            const resident = allocateResident(bits.length, 2 ** 30, 'bfloat16')!;
            resident.set(bits);
            const dims = { batch: 2, M, K, N, aBatched: 1 as const, bBatched };
            const expected = Array.from(runMatmul(layout, a, float, dims));
            expect(Array.from(runMatmul(layout, a, bits, dims)), `${layout} ${M}x${K}x${N} sliced`).toEqual(expected);
            expect(Array.from(runMatmul(layout, a, resident, dims)), `${layout} ${M}x${K}x${N} sliced, resident`).toEqual(expected);
          }
        }
      }
    } finally {
      matmulLimits.maxScratchFloats = saved;
    }
    // a decode step's x W^T above gemv's threading threshold, and a wide NN product
    for (const [layout, M, K, N] of [['NT', 1, 2304, 1024], ['NT', 4, 1024, 1000], ['NN', 64, 256, 512]] as const) {
      const a = randomData(M * K, M);
      const { bits, float } = bf16Pair(K * N, N);
      const dims = { batch: 1, M, K, N, aBatched: 0 as const, bBatched: 0 as const };
      const expected = Array.from(withThreads(1, () => runMatmul(layout, a, float, dims)));
      expect(Array.from(withThreads(2, () => runMatmul(layout, a, bits, dims))), `${layout} ${M}x${K}x${N}`).toEqual(expected);
    }
  });
});

// Every kernel's CPU path against its GPU.js kernel on one sample each: test/kernels/registry.test.ts.
// Here, the same over random broadcast patterns and reduction layouts.
describe('host loops: element-wise formulas and reductions', () => {
  test('single-operation formulas give the GPU.js webasm bits on every broadcast pattern', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<[number[], number[]]>([[4, 5, 6], [4, 5, 6]], [[4, 5, 6], [4, 5, 1]], [[4, 5, 6], [6]], [[4, 1, 6], [1, 5, 1]], [[3, 1], [1, 7]], [[2, 3, 4, 5], [3, 1, 5]]),
        fc.constantFrom(ops.add, ops.sub, ops.mul, ops.div),
        fc.integer({ min: 1, max: 1000 }),
        ([shapeA, shapeB], run, seed) => {
          const a = randomTensor(shapeA, seed);
          const b = randomTensor(shapeB, seed + 1, 0.5, 2);
          const expected = onGpuJs(() => run(a, b).contiguousData());
          expect(Array.from(run(a, b).contiguousData())).toEqual(Array.from(expected));
          const scalarExpected = onGpuJs(() => ops.mul(a, 0.3).contiguousData());
          expect(Array.from(ops.mul(a, 0.3).contiguousData())).toEqual(Array.from(scalarExpected));
        },
      ),
      { numRuns: 30 },
    );
  });

  test('sum, max and argmax along any axis give the GPU.js webasm bits (float32 running sums), NaN winning max', () => {
    const x = randomTensor([3, 50, 7], 11);
    for (const kind of ['sum', 'max', 'argmax', 'logSumExp'] as const) {
      for (const [outer, length, inner] of [[3, 50, 7], [150, 7, 1], [1, 3, 350]]) {
        const data = x.contiguousData();
        const expected = onGpuJs(() => runReduction(kind, data, outer, length, inner));
        const actual = runReduction(kind, data, outer, length, inner);
        if (kind === 'logSumExp') expect(findMismatch(actual, expected, TOLERANCES.softmax)).toBeNull();
        else expect(Array.from(actual), `${kind} [${outer}, ${length}, ${inner}]`).toEqual(Array.from(expected));
      }
    }
    expect(Number.isNaN(ops.max(tensor([1, NaN, 3]), 0).item())).toBe(true);
  });



});

describe('resident weights', () => {
  test('weights live in wasm memory within the resident budget, in ordinary arrays beyond it, with identical logits', () => {
    const config = parseGemma2Config({ vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16 });
    const ids = Tensor.fromData(Int32Array.from({ length: 10 }, (_, i) => (i * 7) % 64), [1, 10]);
    const resident = new Gemma2ForCausalLM(config, { seed: 3 });
    setResidentBudget(0);
    const ordinary = new Gemma2ForCausalLM(config, { seed: 3 });
    expect(residentOffset(resident.model.embedTokens.contiguousData())).toBeGreaterThanOrEqual(0);
    expect(residentOffset(ordinary.model.embedTokens.contiguousData())).toBe(-1);
    const logits = (m: Gemma2ForCausalLM) => Array.from(noGrad(() => m.forward({ inputIds: ids }).logits).contiguousData());
    expect(logits(resident)).toEqual(logits(ordinary));
    expect(() => setResidentBudget(-1)).toThrow(/setResidentBudget: expected a number of MiB >= 0, got "-1"/);
  });

  test('bf16 weights are resident too, two bytes an element against the budget, and give the logits of ordinary arrays', () => {
    const config = parseGemma2Config({ vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16 });
    const ids = Tensor.fromData(Int32Array.from({ length: 10 }, (_, i) => (i * 7) % 64), [1, 10]);
    const before = residentBytes();
    const resident = new Gemma2ForCausalLM(config, { seed: 3, weightDtype: 'bfloat16' });
    const matrices = resident.namedParameters().filter(([, p]) => p.dtype === 'bfloat16');
    const elements = matrices.reduce((n, [, p]) => n + p.size, 0);
    expect(residentBytes() - before).toBe(2 * elements); // every block here a whole number of vectors
    setResidentBudget(0);
    const ordinary = new Gemma2ForCausalLM(config, { seed: 3, weightDtype: 'bfloat16' });
    expect(residentByteOffset(resident.model.embedTokens.contiguousData())).toBeGreaterThanOrEqual(0);
    expect(residentByteOffset(ordinary.model.embedTokens.contiguousData())).toBe(-1);
    expect(ordinary.model.embedTokens.contiguousData()).toBeInstanceOf(Uint16Array);
    const logits = (m: Gemma2ForCausalLM) => Array.from(noGrad(() => m.forward({ inputIds: ids }).logits).contiguousData());
    expect(logits(resident)).toEqual(logits(ordinary));
  });

  test('a sub-view of resident storage keeps its block alive through a garbage collection, and the block is freed after', () => {
    // a forced collection needs --expose-gc, so this runs in a child process (test/fixtures/resident-subview.ts)
    const script = fileURLToPath(new URL('./fixtures/resident-subview.ts', import.meta.url));
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').pop()!)).toEqual({ intact: true, freed: true });
  });
});
