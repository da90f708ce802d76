// The backend rule (setBackend > GEMMA2_BACKEND > automatic), its errors, the
// kernel cache, and the record of which backend actually ran each kernel.

import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  BackendError,
  availableBackends,
  currentBackend,
  describeBackend,
  resetBackend,
  setBackend,
  withBackend,
} from '../kernels/backend.ts';
import { kernelStats, resetKernelStats } from '../kernels/launch.ts';
import { runMatmul, type MatmulLayout } from '../kernels/matmul.ts';
import fc from 'fast-check';
import * as ops from '../lib/ops/index.ts';
import { randomTensor } from './helpers.ts';

// The suite must not depend on how it was started (GEMMA2_BACKEND=cpu npm test).
const startingEnv = process.env.GEMMA2_BACKEND;
beforeEach(() => {
  delete process.env.GEMMA2_BACKEND;
});
afterEach(() => {
  resetBackend();
  delete process.env.GEMMA2_KERNELS;
  delete process.env.GEMMA2_THREADS;
  if (startingEnv === undefined) delete process.env.GEMMA2_BACKEND;
  else process.env.GEMMA2_BACKEND = startingEnv;
});

describe('choosing a backend', () => {
  test('Node picks webasm automatically, with cpu as the fallback', () => {
    expect(availableBackends().slice(0, 2)).toEqual(['webasm', 'cpu']);
    expect(currentBackend()).toBe('webasm');
    expect(describeBackend()).toMatch(/^webasm \(automatic/);
  });

  test('GEMMA2_BACKEND overrides the automatic choice, setBackend overrides both', () => {
    process.env.GEMMA2_BACKEND = 'cpu';
    expect(currentBackend()).toBe('cpu');
    expect(describeBackend()).toBe('cpu (chosen by GEMMA2_BACKEND)');
    setBackend('webasm');
    expect(currentBackend()).toBe('webasm');
    resetBackend();
    expect(currentBackend()).toBe('cpu');
  });

  test('withBackend restores the previous choice', () => {
    setBackend('webasm');
    const inside = withBackend('cpu', () => currentBackend());
    expect(inside).toBe('cpu');
    expect(currentBackend()).toBe('webasm');
  });

  test('unknown or unavailable backends are errors that list the choices', () => {
    expect(() => setBackend('tpu')).toThrow(/setBackend: unknown backend "tpu"; expected one of: webasm, cpu, headlessgl, webgl2, webgl/);
    expect(() => setBackend('webgpu')).toThrow(/webgpu needs GPU.js's asynchronous kernel contract/);
    expect(() => setBackend('webgl2')).toThrow(/backend "webgl2" is not available here; available: webasm, cpu/);
    process.env.GEMMA2_BACKEND = 'bogus';
    expect(() => currentBackend()).toThrow(BackendError);
    expect(() => currentBackend()).toThrow(/GEMMA2_BACKEND: unknown backend "bogus"/);
  });
});

describe('kernel cache and stats', () => {
  for (const backend of availableBackends()) {
    test(`kernels compile once per shape and run on ${backend}, with no silent fallback`, () => {
      setBackend(backend);
      resetKernelStats();
      const a = randomTensor([3, 5], 1);
      const b = randomTensor([5, 2], 2);
      // GPU.js kernels everywhere (GEMMA2_KERNELS=gpujs): compiled once per shape, run where asked
      process.env.GEMMA2_KERNELS = 'gpujs';
      for (let i = 0; i < 3; i++) ops.sqrt(a);
      ops.sqrt(randomTensor([4, 5], 3));
      const stat = kernelStats().get('elementwise.sqrt.100')!;
      expect(stat.launches).toBe(4);
      expect(stat.compiles).toBe(2);
      expect([...stat.ranOn]).toEqual([backend]);
      delete process.env.GEMMA2_KERNELS;
      resetKernelStats();
      // the default rule: on webasm the CPU path (SIMD kernels, host loops), elsewhere GPU.js
      ops.matmul(a, b);
      ops.exp(a);
      ops.softmax(a);
      ops.sqrt(a);
      const ranOn = (name: string) => [...kernelStats().get(name)!.ranOn];
      if (backend === 'webasm') {
        expect(ranOn('matmul.NN')).toEqual(['wasm-simd']);
        expect(ranOn('elementwise.exp')).toEqual(['wasm-simd']);
        expect(ranOn('softmax.rows')).toEqual(['wasm-simd']);
        expect(ranOn('elementwise.sqrt.100')).toEqual(['host-loop']);
      } else {
        expect(ranOn('matmul.NN')).toEqual([backend]);
        expect(ranOn('elementwise.exp.100')).toEqual([backend]);
        expect(ranOn('elementwise.sqrt.100')).toEqual([backend]);
        expect(kernelStats().has('softmax.rows')).toBe(false);
      }
    });
  }

  test('GEMMA2_KERNELS=gpujs keeps GPU.js kernels on webasm, with bit-identical results', () => {
    setBackend('webasm');
    fc.assert(
      fc.property(fc.constantFrom('NN', 'NT', 'TN' as const), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 21 }), (layout, batch, M, K, N) => {
        const a = randomTensor([batch * M * K], M + K);
        const b = randomTensor([K * N], N);
        const dims = { batch, M, K, N, aBatched: 1 as const, bBatched: 0 as const };
        const simd = runMatmul(layout as MatmulLayout, a.contiguousData(), b.contiguousData(), dims);
        process.env.GEMMA2_KERNELS = 'gpujs';
        const gpujs = runMatmul(layout as MatmulLayout, a.contiguousData(), b.contiguousData(), dims);
        delete process.env.GEMMA2_KERNELS;
        expect(Array.from(simd)).toEqual(Array.from(gpujs));
      }),
      { numRuns: 40 },
    );
    process.env.GEMMA2_KERNELS = 'gpujs';
    resetKernelStats();
    ops.matmul(randomTensor([2, 3], 1), randomTensor([3, 2], 2));
    expect([...kernelStats().get('matmul.NN')!.ranOn]).toEqual(['webasm']);
    process.env.GEMMA2_KERNELS = 'fast';
    expect(() => ops.matmul(randomTensor([2, 3], 1), randomTensor([3, 2], 2))).toThrow(/GEMMA2_KERNELS: expected "simd" or "gpujs", got "fast"/);
    delete process.env.GEMMA2_KERNELS;
  });

  test('the SIMD matmul split over worker threads gives the single-thread result bit for bit', () => {
    setBackend('webasm');
    // products big enough to be split (kernels/wasm/gemm.ts: from 2^25 multiply-adds)
    for (const [layout, M, K, N] of [['NN', 256, 512, 264], ['NT', 131, 1000, 257], ['TN', 129, 1024, 256]] as const) {
      const a = randomTensor([M * K], M);
      const b = randomTensor([K * N], N);
      const dims = { batch: 2, M, K, N, aBatched: 0 as const, bBatched: 0 as const };
      process.env.GEMMA2_THREADS = '1';
      const single = runMatmul(layout, a.contiguousData(), b.contiguousData(), dims);
      process.env.GEMMA2_THREADS = '2';
      const threaded = runMatmul(layout, a.contiguousData(), b.contiguousData(), dims);
      expect(Array.from(threaded)).toEqual(Array.from(single));
    }
    process.env.GEMMA2_THREADS = 'many';
    expect(() => runMatmul('NN', randomTensor([64 * 256], 1).contiguousData(), randomTensor([256 * 130], 2).contiguousData(), { batch: 1, M: 64, K: 256, N: 130, aBatched: 0, bBatched: 0 })).toThrow(/GEMMA2_THREADS: expected a positive integer, got "many"/);
    delete process.env.GEMMA2_THREADS;
  });

  test('the same values come out of every backend', () => {
    const x = randomTensor([6, 7], 5);
    const w = randomTensor([3, 7], 6);
    const results = availableBackends().map((backend) => withBackend(backend, () => Array.from(ops.linear(x, w).contiguousData())));
    for (const r of results.slice(1)) {
      r.forEach((v, i) => expect(Math.abs(v - results[0][i])).toBeLessThan(1e-5));
    }
  });
});
