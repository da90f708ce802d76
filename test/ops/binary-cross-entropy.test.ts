// binaryCrossEntropyWithLogits (BCEWithLogitsLoss, composed from log-sum-exp,
// concat, mul and sub): the three reductions vs the float64 reference on
// random logits that include large |x| (where a naive log(sigmoid(x))
// overflows or rounds to log 0), 0/1 and fractional targets; the gradients
// for logits and targets vs finite differences of the reference; exact
// values at |x| = 100; the errors for bad shapes and dtypes.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { randint, tensor } from '../../lib/tensor/creation.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { describeEachBackend, expectClose, finiteDifference, randomTensor, seedArb, shapeArb, toRef, weightedSum } from '../helpers.ts';

type Reduction = 'mean' | 'sum' | 'none';
const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

/** Logits in [-2, 2], about a third of them scaled by 50 (up to |x| = 100). */
function randomLogits(shape: number[], seed: number): Tensor {
  const logits = randomTensor(shape, seed);
  const data = logits.contiguousData();
  const picks = randint(shape, 0, 3, { seed: seed + 1 }).contiguousData();
  for (let i = 0; i < data.length; i++) if (picks[i] === 0) data[i] *= 50;
  return logits;
}

/** 0/1 targets (what multi-label classification passes), or fractional ones in [0, 1]. */
function randomTargets(shape: number[], seed: number, fractional: boolean): Tensor {
  if (fractional) return randomTensor(shape, seed, 0, 1);
  return Tensor.fromData(Float32Array.from(randint(shape, 0, 2, { seed }).contiguousData()), shape);
}

function refLoss(logits: RefTensor, targets: RefTensor, reduction: Reduction): RefTensor {
  const losses = R.binaryCrossEntropyWithLogitsElements(logits, targets);
  if (reduction === 'none') return losses;
  if (reduction === 'sum') return R.refTensor([], [losses.data.reduce((s, v) => s + v, 0)]);
  return R.refTensor([], [R.binaryCrossEntropyWithLogits(logits, targets)]);
}

const caseArb = fc.record({ shape: shapeArb(1, 3, 6), fractional: fc.boolean(), seed: seedArb });

describeEachBackend('binaryCrossEntropyWithLogits', () => {
  for (const reduction of REDUCTIONS) {
    test(`'${reduction}': matches the reference, logits up to |x| = 100, 0/1 and fractional targets`, () => {
      fc.assert(
        fc.property(caseArb, ({ shape, fractional, seed }) => {
          const logits = randomLogits(shape, seed);
          const targets = randomTargets(shape, seed + 2, fractional);
          const loss = ops.binaryCrossEntropyWithLogits(logits, targets, { reduction });
          const expected = refLoss(toRef(logits), toRef(targets), reduction);
          expect(loss.shape).toEqual(expected.shape);
          expectClose(loss, expected, TOLERANCES.fused, `binaryCrossEntropyWithLogits ${reduction}`);
        }),
        { numRuns: 30 },
      );
    });

    test(`'${reduction}': gradients for logits and targets match finite differences`, () => {
      fc.assert(
        fc.property(caseArb, ({ shape, fractional, seed }) => {
          const logits = randomLogits(shape, seed).requireGrad();
          const targets = randomTargets(shape, seed + 2, fractional).requireGrad();
          const loss = ops.binaryCrossEntropyWithLogits(logits, targets, { reduction });
          const weights = randomTensor(loss.shape, seed + 3);
          loss.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(refLoss(inputs[0], inputs[1], reduction), toRef(weights));
          const refs = [toRef(logits), toRef(targets)];
          expectClose(logits.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, `dbce ${reduction}/dlogits`);
          expectClose(targets.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, `dbce ${reduction}/dtargets`);
        }),
        { numRuns: 15 },
      );
    });
  }

  test('large |x| stays finite and exact: softplus(x) - x y without overflow or log(0)', () => {
    const logits = tensor([100, -100, 100, -100, 30, -30, 0]).requireGrad();
    const targets = tensor([0, 1, 1, 0, 0, 1, 1]);
    const losses = ops.binaryCrossEntropyWithLogits(logits, targets, { reduction: 'none' });
    // a confident wrong answer costs |x|; a confident right one about e^-|x|
    expectClose(losses, [100, 100, 0, 0, 30, 30, Math.LN2], { atol: 1e-6, rtol: 1e-6 }, 'bce at large |x|');
    ops.sum(losses).backward();
    // d/dx = sigmoid(x) - y
    expectClose(logits.grad!, [1, -1, 0, 0, 1, -1, -0.5], { atol: 1e-6, rtol: 0 }, 'dbce/dx at large |x|');
  });
});

test('binaryCrossEntropyWithLogits: shapes that differ and integer tensors are errors naming the op', () => {
  const logits = randomTensor([2, 3], 1);
  expect(() => ops.binaryCrossEntropyWithLogits(logits, randomTensor([2, 4], 2))).toThrow(
    /binaryCrossEntropyWithLogits: logits \[2, 3\] and targets \[2, 4\] must have the same shape/,
  );
  // no broadcasting, as in torch (which refuses a target of another size)
  expect(() => ops.binaryCrossEntropyWithLogits(logits, randomTensor([3], 2))).toThrow(/logits \[2, 3\] and targets \[3\] must have the same shape/);
  expect(() => ops.binaryCrossEntropyWithLogits(logits, tensor([[0, 1, 1], [1, 0, 0]], { dtype: 'int32' }))).toThrow(
    /binaryCrossEntropyWithLogits: expected a float32 tensor, got int32 of shape \[2, 3\]/,
  );
  expect(() => ops.binaryCrossEntropyWithLogits(tensor([1, 2], { dtype: 'int32' }), randomTensor([2], 3))).toThrow(
    /binaryCrossEntropyWithLogits: expected a float32 tensor, got int32/,
  );
});
