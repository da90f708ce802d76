// The backend object (kernels/backend.ts): the environment read once and
// checked, the setters' precedence and errors, the compute path, the kernel
// cache, and the record of which backend actually ran each kernel.

import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  availableBackends,
  backend,
  currentBackend,
  describeBackend,
  readEnvironment,
  resetBackend,
  setBackend,
  setComputePath,
  setThreads,
  withBackend,
  withComputePath,
  withThreads,
} from '../kernels/backend.ts';
import { kernelStats, resetKernelStats } from '../kernels/launch.ts';
import { runMatmul, type MatmulLayout } from '../kernels/matmul.ts';
import { parallel } from '../kernels/wasm/threads.ts';
import fc from 'fast-check';
import * as ops from '../lib/ops/index.ts';
import { randomTensor } from './helpers.ts';

// The suite must not depend on how it was started (GEMMA2_BACKEND=cpu npm test): the environment is
// read once, so these tests set everything through the API and reset it after.
afterEach(() => resetBackend());

const environment = (values: Record<string, string>) => (name: string) => values[name];

describe('choosing a backend', () => {
  test('Node picks webasm automatically, with cpu as the fallback, and the CPU path on webasm', () => {
    expect(availableBackends().slice(0, 2)).toEqual(['webasm', 'cpu']);
    setBackend('webasm');
    expect(backend()).toMatchObject({ name: 'webasm', path: 'cpu' });
    expect(describeBackend()).toMatch(/^webasm \(chosen by setBackend\(\)\); CPU path \(SIMD kernels and host loops\), \d+ threads?/);
  });

  test('the environment is read into one checked object: backend, compute path, threads, resident budget', () => {
    expect(readEnvironment(environment({}))).toEqual({ backend: undefined, path: undefined, threads: undefined, residentMiB: undefined });
    expect(readEnvironment(environment({ GEMMA2_BACKEND: 'cpu', GEMMA2_KERNELS: 'gpujs', GEMMA2_THREADS: '3', GEMMA2_RESIDENT_MB: '64' }))).toEqual({
      backend: 'cpu',
      path: 'gpujs',
      threads: 3,
      residentMiB: 64,
    });
    expect(readEnvironment(environment({ GEMMA2_KERNELS: 'simd' })).path).toBe('cpu'); // the path's earlier name
    expect(() => readEnvironment(environment({ GEMMA2_BACKEND: 'bogus' }))).toThrow(/GEMMA2_BACKEND: unknown backend "bogus"/);
    expect(() => readEnvironment(environment({ GEMMA2_KERNELS: 'fast' }))).toThrow(/GEMMA2_KERNELS: expected "cpu" \(the CPU path\) or "gpujs", got "fast"/);
    expect(() => readEnvironment(environment({ GEMMA2_THREADS: 'many' }))).toThrow(/GEMMA2_THREADS: expected a positive integer, got "many"/);
    expect(() => readEnvironment(environment({ GEMMA2_RESIDENT_MB: 'lots' }))).toThrow(/GEMMA2_RESIDENT_MB: expected a number of MiB >= 0, got "lots"/);
  });

  test('setters override the environment; resetBackend returns to it; with* restore the previous choice', () => {
    setBackend('cpu');
    expect(backend()).toMatchObject({ name: 'cpu', path: 'gpujs' });
    expect(describeBackend()).toBe('cpu (chosen by setBackend()); GPU.js kernels (the cpu backend runs the GPU.js kernels)');
    setBackend('webasm');
    setComputePath('gpujs');
    expect(backend()).toMatchObject({ name: 'webasm', path: 'gpujs' });
    setComputePath('cpu');
    setThreads(1);
    expect(backend()).toMatchObject({ path: 'cpu', threads: 1 });
    expect(withThreads(2, () => backend().threads)).toBe(2);
    expect(withComputePath('gpujs', () => backend().path)).toBe('gpujs');
    expect(withBackend('cpu', () => currentBackend())).toBe('cpu');
    expect(backend()).toMatchObject({ name: 'webasm', path: 'cpu', threads: 1 });
  });

  test('the backend object is resolved once and reused until a setter changes it', () => {
    setBackend('webasm');
    const first = backend();
    expect(backend()).toBe(first);
    setThreads(1);
    expect(backend()).not.toBe(first);
  });

  test('unknown or unavailable choices are errors that list the choices, and leave the settings as they were', () => {
    expect(() => setBackend('tpu')).toThrow(/setBackend: unknown backend "tpu"; expected one of: webasm, cpu, headlessgl, webgl2, webgl/);
    expect(() => setBackend('webgpu')).toThrow(/webgpu needs GPU.js's asynchronous kernel contract/);
    expect(() => setBackend('webgl2')).toThrow(/backend "webgl2" is not available here; available: webasm, cpu/);
    expect(() => setComputePath('fast')).toThrow(/setComputePath: expected "cpu" \(the CPU path\) or "gpujs", got "fast"/);
    expect(() => setThreads(0)).toThrow(/setThreads: expected a positive integer, got "0"/);
    setBackend('cpu');
    expect(() => setComputePath('cpu')).toThrow(/setComputePath: the CPU path replaces the webasm backend's kernels; the backend is cpu/);
    expect(backend()).toMatchObject({ name: 'cpu', path: 'gpujs' });
  });

  test('no kernel file reads the environment: the settings are the only source of the path', () => {
    const env = process.env.GEMMA2_KERNELS;
    setBackend('webasm');
    try {
      process.env.GEMMA2_KERNELS = 'gpujs'; // ignored: read once, before
      resetKernelStats();
      ops.exp(randomTensor([8], 1));
      expect([...kernelStats().get('elementwise.exp')!.ranOn]).toEqual(['wasm-simd']);
    } finally {
      if (env === undefined) delete process.env.GEMMA2_KERNELS;
      else process.env.GEMMA2_KERNELS = env;
    }
  });
});

describe('kernel cache and stats', () => {
  for (const backend of availableBackends()) {
    test(`kernels compile once per shape and run on ${backend}, with no silent fallback`, () => {
      setBackend(backend);
      resetKernelStats();
      const a = randomTensor([3, 5], 1);
      const b = randomTensor([5, 2], 2);
      // the GPU.js kernels: compiled once per shape, run where asked
      withComputePath('gpujs', () => {
        for (let i = 0; i < 3; i++) ops.sqrt(a);
        ops.sqrt(randomTensor([4, 5], 3));
      });
      const stat = kernelStats().get('elementwise.sqrt')!;
      expect(stat.launches).toBe(4);
      expect(stat.compiles).toBe(2);
      expect([...stat.ranOn]).toEqual([backend]);
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
        expect(ranOn('elementwise.sqrt')).toEqual(['host-loop']);
      } else {
        expect(ranOn('matmul.NN')).toEqual([backend]);
        expect(ranOn('elementwise.exp')).toEqual([backend]);
        expect(ranOn('elementwise.sqrt')).toEqual([backend]);
        expect(kernelStats().has('softmax.rows')).toBe(false);
      }
    });
  }

  test('the GPU.js path on webasm gives the CPU path matmul bits', () => {
    setBackend('webasm');
    fc.assert(
      fc.property(fc.constantFrom('NN', 'NT', 'TN' as const), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 21 }), (layout, batch, M, K, N) => {
        const a = randomTensor([batch * M * K], M + K);
        const b = randomTensor([K * N], N);
        const dims = { batch, M, K, N, aBatched: 1 as const, bBatched: 0 as const };
        const simd = runMatmul(layout as MatmulLayout, a.contiguousData(), b.contiguousData(), dims);
        const gpujs = withComputePath('gpujs', () => runMatmul(layout as MatmulLayout, a.contiguousData(), b.contiguousData(), dims));
        expect(Array.from(simd)).toEqual(Array.from(gpujs));
      }),
      { numRuns: 40 },
    );
    resetKernelStats();
    withComputePath('gpujs', () => ops.matmul(randomTensor([2, 3], 1), randomTensor([3, 2], 2)));
    expect([...kernelStats().get('matmul.NN')!.ranOn]).toEqual(['webasm']);
  });

  test('the SIMD matmul split over worker threads gives the single-thread result bit for bit', () => {
    setBackend('webasm');
    // products big enough to be split (kernels/wasm/gemm-plan.ts: from 2^25 multiply-adds)
    for (const [layout, M, K, N] of [['NN', 256, 512, 264], ['NT', 131, 1000, 257], ['TN', 129, 1024, 256]] as const) {
      const a = randomTensor([M * K], M);
      const b = randomTensor([K * N], N);
      const dims = { batch: 2, M, K, N, aBatched: 0 as const, bBatched: 0 as const };
      const single = withThreads(1, () => runMatmul(layout, a.contiguousData(), b.contiguousData(), dims));
      const threaded = withThreads(2, () => runMatmul(layout, a.contiguousData(), b.contiguousData(), dims));
      expect(Array.from(threaded)).toEqual(Array.from(single));
    }
  });

  test('a worker thread whose job fails makes the call throw (not wait forever), and the pool goes on working', () => {
    setBackend('webasm');
    const product = () => runMatmul('NN', randomTensor([256 * 512], 1).contiguousData(), randomTensor([512 * 264], 2).contiguousData(), { batch: 2, M: 256, K: 512, N: 264, aBatched: 0, bBatched: 0 });
    const expected = withThreads(2, product); // also compiles and registers the gemm module
    const outOfBounds = 2 ** 31 - 64; // a source address past the end of wasm memory: the worker's call traps
    const silenced = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(() => withThreads(2, () => parallel(2, true, () => [{ fn: 'pack_nn', args: [outOfBounds, 0, 1, 0, 1] }], () => {}))).toThrow(
        /WorkerPool: a worker thread failed while running pack_nn/,
      );
    } finally {
      silenced.mockRestore();
    }
    expect(Array.from(withThreads(2, product))).toEqual(Array.from(expected));
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
