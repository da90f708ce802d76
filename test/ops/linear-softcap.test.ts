// The softcapped LM head (lib/ops/linear-softcap.ts) against the ops it
// replaces, softcap(linear(x, W), c): forward and both gradients bit for bit
// on every compute path, with float32 and bfloat16 weights, with the
// product in column slices, batched entries and threads on the CPU path's
// epilogue (wasm/gemm.ts); against the float64 reference and central
// finite differences; and its errors.

import { afterEach, expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { tensor } from '../../lib/tensor/creation.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { withComputePath } from '../../kernels/backend.ts';
import { runLinearSoftcap, runMatmul, runElementwiseFlat } from '../../kernels/index.ts';
import { matmulLimits } from '../../kernels/wasm/gemm.ts';
import { describeEachBackend, expectClose, finiteDifference, randomTensor, seedArb, shapeArb, toRef, weightedSum } from '../helpers.ts';

const caseArb = fc.record({
  rowsShape: shapeArb(1, 2, 5),
  inFeatures: fc.integer({ min: 1, max: 40 }),
  outFeatures: fc.integer({ min: 1, max: 70 }),
  cap: fc.constantFrom(1.5, 30),
  bfloat16: fc.boolean(),
  seed: seedArb,
});

const bits = (t: Tensor | Float32Array) => Array.from(t instanceof Tensor ? t.contiguousData() : t);
const savedScratch = matmulLimits.maxScratchFloats;

afterEach(() => {
  matmulLimits.maxScratchFloats = savedScratch;
});

describeEachBackend('linearSoftcap (fused)', (backend) => {
  test('forward and both gradients have the bits of softcap(linear(x, W), c), on every path, float32 and bfloat16 weights', () => {
    const paths = backend === 'webasm' ? (['cpu', 'gpujs'] as const) : ([undefined] as const);
    fc.assert(
      fc.property(caseArb, ({ rowsShape, inFeatures, outFeatures, cap, bfloat16, seed }) => {
        for (const path of paths) {
          const run = (fused: boolean) => {
            const x = randomTensor([...rowsShape, inFeatures], seed, -3, 3).requireGrad();
            const stored = randomTensor([outFeatures, inFeatures], seed + 1);
            // a bf16 weight is frozen (kept as stored), so only x gets a gradient then
            const weight = bfloat16 ? tensor(stored.floatData(), { dtype: 'bfloat16', shape: stored.shape }) : stored.requireGrad();
            const y = fused ? ops.linearSoftcap(x, weight, cap) : ops.softcap(ops.linear(x, weight), cap);
            y.backward(randomTensor(y.shape, seed + 2));
            return { y, dx: x.grad!, dw: bfloat16 ? null : weight.grad! };
          };
          const within = <T>(fn: () => T) => (path === undefined ? fn() : withComputePath(path, fn));
          const fused = within(() => run(true));
          const composed = within(() => run(false));
          const where = `${backend}${path === undefined ? '' : ` ${path} path`} [${rowsShape}, ${inFeatures}] x [${outFeatures}, ${inFeatures}]${bfloat16 ? ' bf16' : ''}`;
          expect(bits(fused.y), `y ${where}`).toEqual(bits(composed.y));
          expect(bits(fused.dx), `dx ${where}`).toEqual(bits(composed.dx));
          if (fused.dw !== null) expect(bits(fused.dw), `dW ${where}`).toEqual(bits(composed.dw!));
        }
      }),
      { numRuns: 30 },
    );
  });

  test('matches the float64 reference; both gradients match finite differences', () => {
    fc.assert(
      fc.property(caseArb, ({ rowsShape, inFeatures, outFeatures, cap, seed }) => {
        const x = randomTensor([...rowsShape, Math.min(inFeatures, 6)], seed, -3, 3).requireGrad();
        const weight = randomTensor([Math.min(outFeatures, 7), x.shape[x.rank - 1]], seed + 1).requireGrad();
        const y = ops.linearSoftcap(x, weight, cap);
        expectClose(y, R.linearSoftcap(toRef(x), toRef(weight), cap), TOLERANCES.matmul, 'linearSoftcap vs reference');
        const weights = randomTensor(y.shape, seed + 2);
        y.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.linearSoftcap(inputs[0], inputs[1], cap), toRef(weights));
        const refs = [toRef(x), toRef(weight)];
        expectClose(x.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, 'dlinearSoftcap/dx');
        expectClose(weight.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, 'dlinearSoftcap/dW');
      }),
      { numRuns: 20 },
    );
  });
});

test('the CPU path\'s epilogue: column slices, batched entries (C regions back to back) and threads give the bits of the NT product then softcap', () => {
  const cases: [number, number, number, number][] = [
    [1, 3, 40, 77], // batch, M, K, N: C rows not a multiple of 16 floats
    [3, 5, 24, 21], // small entries run together, each C followed by the next entry's A
    [1, 1, 64, 100],
    [1, 300, 256, 520], // above the threading thresholds
  ];
  for (const maxScratch of [savedScratch, 6000]) {
    matmulLimits.maxScratchFloats = maxScratch; // 6000: slices of 8-16 columns
    for (const [batch, M, K, N] of cases) {
      const a = randomTensor([batch * M * K], M + K).contiguousData();
      const b = randomTensor([batch * N * K], N).contiguousData();
      const dims = { batch, M, K, N, aBatched: 1 as const, bBatched: 1 as const };
      const expected = runElementwiseFlat('softcap', [runMatmul('NT', a, b, dims)], 2.5);
      expect(bits(runLinearSoftcap(a, b, dims, 2.5)), `${batch} x ${M}x${K}x${N}, scratch ${maxScratch}`).toEqual(bits(expected));
    }
  }
});

test('linearSoftcap: bad weights, features, caps and inputs are errors naming linearSoftcap', () => {
  const x = randomTensor([2, 4], 1);
  expect(() => ops.linearSoftcap(x, randomTensor([3, 5], 2), 2)).toThrow(/linearSoftcap: input \[2, 4\] has 4 features but weight \[3, 5\] expects 5/);
  expect(() => ops.linearSoftcap(x, randomTensor([3], 2), 2)).toThrow(/linearSoftcap: weight must have rank 2/);
  expect(() => ops.linearSoftcap(x, randomTensor([3, 4], 2), 0)).toThrow(/linearSoftcap: cap must be a finite number > 0, got 0/);
  expect(() => ops.linearSoftcap(x, randomTensor([3, 4], 2), Number.NaN)).toThrow(/linearSoftcap: cap must be a finite number > 0, got NaN/);
  expect(() => ops.linearSoftcap(tensor(1.5), randomTensor([3, 1], 2), 2)).toThrow(/linearSoftcap: input must have at least one axis/);
  expect(() => ops.linearSoftcap(tensor([[1, 2, 3, 4]], { dtype: 'int32' }), randomTensor([3, 4], 2), 2)).toThrow(/linearSoftcap: expected a float32 tensor, got int32/);
  // nothing to multiply: the composed result's shape
  expect(ops.linearSoftcap(Tensor.fromData(new Float32Array(0), [0, 4]), randomTensor([3, 4], 2), 2).shape).toEqual([0, 3]);
  expect(Array.from(ops.linearSoftcap(Tensor.fromData(new Float32Array(0), [2, 0]), Tensor.fromData(new Float32Array(0), [3, 0]), 2).contiguousData())).toEqual(new Array(6).fill(0));
});
