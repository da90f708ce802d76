// Shared test machinery: run a suite on every available backend, convert
// between Tensor and the float64 reference, compare within a tolerance, draw
// random shapes and values, and take central finite differences.

import { afterAll, beforeAll, describe } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../lib/tensor/tensor.ts';
import { availableBackends, resetBackend, setBackend, withComputePath, type BackendName } from '../kernels/backend.ts';
import type { Tolerance } from '../kernels/tolerances.ts';
import type { RefTensor } from '../reference/tensor.ts';

/** Backends to test: GEMMA2_TEST_BACKENDS=cpu,webasm narrows the list; default all available. */
export function backendsUnderTest(): BackendName[] {
  const requested = process.env.GEMMA2_TEST_BACKENDS;
  const available = availableBackends();
  if (!requested) return available;
  return requested.split(',').map((name) => {
    if (!available.includes(name as BackendName)) throw new Error(`GEMMA2_TEST_BACKENDS names ${name}, which is not available here`);
    return name as BackendName;
  });
}

/** describe(name) once per backend, with that backend selected. */
export function describeEachBackend(name: string, body: (backend: BackendName) => void): void {
  for (const backend of backendsUnderTest()) {
    describe(`${name} [${backend}]`, () => {
      beforeAll(() => setBackend(backend));
      afterAll(() => resetBackend());
      body(backend);
    });
  }
}

export function toRef(t: Tensor): RefTensor {
  return { shape: t.shape, data: Float64Array.from(t.contiguousData()) };
}

/** A float32 tensor holding the reference values (rounded to float32). */
export function fromRef(r: RefTensor): Tensor {
  return Tensor.fromData(Float32Array.from(r.data), r.shape);
}

export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
  error: number;
  allowed: number;
}

/**
 * The worst element of |actual - expected| > atol + rtol |expected|, or null
 * when every element passes. NaN must meet NaN and an infinity the same
 * infinity; nothing non-finite is "close" to anything else.
 */
export function findMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): Mismatch | null {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst: Mismatch | null = null;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      const same = (Number.isNaN(a) && Number.isNaN(e)) || a === e;
      if (!same) return { index: i, actual: a, expected: e, error: Infinity, allowed: 0 };
      continue;
    }
    const error = Math.abs(a - e);
    const allowed = tol.atol + tol.rtol * Math.abs(e);
    if (error > allowed && (worst === null || error - allowed > worst.error - worst.allowed)) {
      worst = { index: i, actual: a, expected: e, error, allowed };
    }
  }
  return worst;
}

/** Throws a readable message when `actual` is not within `tol` of `expected`. */
export function expectClose(actual: Tensor | ArrayLike<number>, expected: RefTensor | ArrayLike<number>, tol: Tolerance, what = 'value'): void {
  const a = actual instanceof Tensor ? actual.contiguousData() : actual;
  const e = 'shape' in expected && 'data' in expected ? (expected as RefTensor).data : (expected as ArrayLike<number>);
  if (actual instanceof Tensor && 'shape' in expected) {
    const expectedShape = (expected as RefTensor).shape;
    if (actual.shape.join(',') !== expectedShape.join(',')) {
      throw new Error(`${what}: shape [${actual.shape}] != expected [${expectedShape}]`);
    }
  }
  const m = findMismatch(a, e, tol);
  if (m !== null) {
    throw new Error(
      `${what}: element ${m.index} is ${m.actual}, expected ${m.expected} (error ${m.error.toExponential(3)} > allowed ${m.allowed.toExponential(3)}, atol ${tol.atol}, rtol ${tol.rtol})`,
    );
  }
}

/** A shape of rank minRank..maxRank with sizes 1..maxSize. */
export function shapeArb(minRank: number, maxRank: number, maxSize: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxSize }), { minLength: minRank, maxLength: maxRank });
}

/** Two shapes that broadcast: start from one shape and set random axes of the other to 1 (or drop leading ones). */
export function broadcastPairArb(maxRank: number, maxSize: number): fc.Arbitrary<[number[], number[]]> {
  return shapeArb(1, maxRank, maxSize).chain((shape) =>
    fc
      .tuple(
        fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
        fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
        fc.integer({ min: 0, max: shape.length - 1 }),
        fc.boolean(),
      )
      .map(([onesA, onesB, drop, swap]) => {
        const a = shape.map((d, i) => (onesA[i] ? 1 : d));
        const b = shape.map((d, i) => (onesB[i] && !onesA[i] ? 1 : d)).slice(drop);
        return swap ? [b, a] : [a, b];
      }),
  );
}

/** A float32 tensor of `shape` with values from the seeded stream in [low, high). */
export function randomTensor(shape: number[], seed: number, low = -2, high = 2): Tensor {
  let state = (seed * 2654435761) >>> 0 || 1;
  const data = new Float32Array(shape.reduce((n, d) => n * d, 1));
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = low + ((state >>> 0) / 4294967296) * (high - low);
  }
  return Tensor.fromData(data, shape);
}

export const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });

/**
 * d f / d inputs[which] by central differences in float64: (f(x + h) - f(x - h)) / 2h
 * per element. `f` maps reference tensors to a scalar.
 */
export function finiteDifference(f: (inputs: RefTensor[]) => number, inputs: RefTensor[], which: number, h = 1e-6): Float64Array {
  const x = inputs[which];
  const grad = new Float64Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const saved = x.data[i];
    x.data[i] = saved + h;
    const up = f(inputs);
    x.data[i] = saved - h;
    const down = f(inputs);
    x.data[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/** sum(out * weights): a scalar whose gradient w.r.t. out is `weights`, so backward tests cover non-uniform upstream gradients. */
export function weightedSum(out: RefTensor, weights: RefTensor): number {
  let total = 0;
  for (let i = 0; i < out.data.length; i++) total += out.data[i] * weights.data[i];
  return total;
}

/** Runs fn on the GPU.js kernels of the current backend instead of the CPU path. */
export function onGpuJs<T>(fn: () => T): T {
  return withComputePath('gpujs', fn);
}
