// sum, mean, max, argmax and logSumExp (one axis or all axes, keepDim,
// negative axes), sumToShape, softmax and logSoftmax: kernel vs float64
// reference on random shapes and long axes, backward vs finite differences,
// special values (NaN, +-inf, magnitudes of 1000 and 10000), and the errors
// for bad axes and dtypes.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { tensor } from '../../lib/tensor/creation.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES, type Tolerance } from '../../kernels/tolerances.ts';
import { describeEachBackend, expectClose, finiteDifference, randomTensor, seedArb, shapeArb, toRef, weightedSum } from '../helpers.ts';

interface AxisCase {
  name: string;
  run: (x: Tensor, axis: number, keepDim: boolean) => Tensor;
  ref: (x: RefTensor, axis: number, keepDim: boolean) => RefTensor;
  tol: Tolerance;
  /** Longest axis for the long-axis property: the reduction tolerance is measured for sums of up to 129 terms. */
  longAxis: number;
}

const AXIS_REDUCTIONS: AxisCase[] = [
  { name: 'sum', run: ops.sum, ref: R.sum, tol: TOLERANCES.reduction, longAxis: 129 },
  { name: 'mean', run: ops.mean, ref: R.mean, tol: TOLERANCES.reduction, longAxis: 129 },
  { name: 'max', run: ops.max, ref: R.max, tol: TOLERANCES.exact, longAxis: 300 },
  { name: 'logSumExp', run: ops.logSumExp, ref: R.logSumExp, tol: TOLERANCES.softmax, longAxis: 300 },
];

interface AllAxesCase {
  name: string;
  run: (x: Tensor, keepDim: boolean) => Tensor;
  ref: (x: RefTensor) => number;
  tol: Tolerance;
}

const flat = (x: RefTensor): RefTensor => ({ shape: [x.data.length], data: x.data });

const ALL_AXES: AllAxesCase[] = [
  { name: 'sum', run: (x, keepDim) => ops.sum(x, undefined, keepDim), ref: (x) => R.sumAll(x).data[0], tol: TOLERANCES.reduction },
  { name: 'mean', run: (x, keepDim) => ops.mean(x, undefined, keepDim), ref: (x) => R.sumAll(x).data[0] / x.data.length, tol: TOLERANCES.reduction },
  { name: 'max', run: (x, keepDim) => ops.max(x, undefined, keepDim), ref: (x) => R.max(flat(x), 0).data[0], tol: TOLERANCES.exact },
];

interface SoftmaxCase {
  name: string;
  run: (x: Tensor, axis: number) => Tensor;
  ref: (x: RefTensor, axis: number) => RefTensor;
}

const SOFTMAXES: SoftmaxCase[] = [
  { name: 'softmax', run: ops.softmax, ref: R.softmax },
  { name: 'logSoftmax', run: ops.logSoftmax, ref: R.logSoftmax },
];

/**
 * Value ranges far from 0. float32 spacing is 6e-5 near 1000 and 1e-3 near
 * 10000, so an op that rounds lse(x) at that scale and then forms x - lse(x)
 * or exp(x - lse(x)), instead of working from x - max(x), shows it. Finite
 * differences there use h = 1e-4: with |f| up to ~1e5, h = 1e-6 would leave
 * float64 round-off of ~2e-5 in the difference quotient.
 */
const LARGE_RANGE = fc.constantFrom<[number, number]>([900, 1100], [-1100, -900], [-1000, 1000], [9900, 10100]);
const LARGE_H = 1e-4;

/** A shape of rank minRank..maxRank, an axis of it (negative half the time) and keepDim. */
function axisCaseArb(minRank: number, maxRank: number, maxSize: number): fc.Arbitrary<{ shape: number[]; axis: number; keepDim: boolean }> {
  return shapeArb(minRank, maxRank, maxSize).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      axis: fc.integer({ min: -shape.length, max: shape.length - 1 }),
      keepDim: fc.boolean(),
    }),
  );
}

/** Like axisCaseArb, but the reduced axis is long (100..maxLength) and the others short. */
function longAxisCaseArb(maxLength: number): fc.Arbitrary<{ shape: number[]; axis: number; keepDim: boolean }> {
  return fc
    .tuple(axisCaseArb(1, 3, 3), fc.integer({ min: 100, max: maxLength }))
    .map(([c, length]) => {
      const shape = c.shape.slice();
      shape[c.axis < 0 ? c.axis + shape.length : c.axis] = length;
      return { ...c, shape };
    });
}

/**
 * A tensor whose values are all different and at least 4/size apart (a shuffled
 * grid over [-2, 2)): max has one winner, and a finite-difference step cannot
 * change which element wins.
 */
function distinctTensor(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, d) => a * d, 1);
  const keys = randomTensor([n], seed).contiguousData();
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => keys[i] - keys[j]);
  const data = new Float32Array(n);
  order.forEach((position, rank) => (data[position] = -2 + (4 * (rank + 0.5)) / n));
  return Tensor.fromData(data, shape);
}

/** Values in {-2, -1.5, ..., 2}: many ties, so argmax's "first maximum" rule matters. */
function tiedTensor(shape: number[], seed: number): Tensor {
  const x = randomTensor(shape, seed);
  return Tensor.fromData(x.contiguousData().map((v) => Math.round(v * 2) / 2), shape);
}

/** `x` with NaN at each position whose coin (from the seed) comes up below `rate`. */
function withNaNs(x: Tensor, seed: number, rate: number): Tensor {
  const coins = randomTensor(x.shape, seed, 0, 1).contiguousData();
  return Tensor.fromData(x.contiguousData().map((v, i) => (coins[i] < rate ? NaN : v)), x.shape);
}

/** A target shape and a gradient shape that broadcasting could have expanded it to. */
const sumToShapeArb: fc.Arbitrary<[number[], number[]]> = shapeArb(0, 3, 4).chain((shape) =>
  fc
    .tuple(
      shapeArb(0, 2, 4),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: shape.length, maxLength: shape.length }),
      fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
    )
    .map(([lead, sizes, ones]) => {
      const target = shape.map((d, i) => (ones[i] ? 1 : d));
      return [target, [...lead, ...target.map((d, i) => (d === 1 ? sizes[i] : d))]];
    }),
);

describeEachBackend('reductions', () => {
  for (const c of AXIS_REDUCTIONS) {
    test(`${c.name}: kernel matches the reference along any axis, with and without keepDim`, () => {
      fc.assert(
        fc.property(axisCaseArb(1, 4, 9), seedArb, ({ shape, axis, keepDim }, seed) => {
          const x = randomTensor(shape, seed);
          const out = c.run(x, axis, keepDim);
          expect(out.dtype).toBe('float32');
          expectClose(out, c.ref(toRef(x), axis, keepDim), c.tol, `${c.name}(axis ${axis}, keepDim ${keepDim}) of [${shape}]`);
        }),
        { numRuns: 30 },
      );
    });

    test(`${c.name}: kernel matches the reference along long axes`, () => {
      fc.assert(
        fc.property(longAxisCaseArb(c.longAxis), seedArb, ({ shape, axis, keepDim }, seed) => {
          const x = randomTensor(shape, seed);
          expectClose(c.run(x, axis, keepDim), c.ref(toRef(x), axis, keepDim), c.tol, `${c.name}(axis ${axis}) of [${shape}]`);
        }),
        { numRuns: 8 },
      );
    });

    test(`${c.name}: backward matches finite differences`, () => {
      fc.assert(
        fc.property(axisCaseArb(1, 3, 5), seedArb, ({ shape, axis, keepDim }, seed) => {
          // distinct values: max has a single winner that a step of h cannot change
          const x = distinctTensor(shape, seed).requireGrad();
          const out = c.run(x, axis, keepDim);
          const weights = randomTensor(out.shape, seed + 1);
          out.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(c.ref(inputs[0], axis, keepDim), toRef(weights));
          expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0), TOLERANCES.gradient, `d${c.name}(axis ${axis}, keepDim ${keepDim})`);
        }),
        { numRuns: 20 },
      );
    });
  }

  for (const c of ALL_AXES) {
    test(`${c.name} over all axes: a rank-0 result, or all-ones shape with keepDim`, () => {
      fc.assert(
        fc.property(shapeArb(0, 4, 7), seedArb, fc.boolean(), (shape, seed, keepDim) => {
          const x = randomTensor(shape, seed);
          const out = c.run(x, keepDim);
          expect(out.shape).toEqual(keepDim ? shape.map(() => 1) : []);
          expectClose(out.contiguousData(), [c.ref(toRef(x))], c.tol, `${c.name} of [${shape}]`);
        }),
        { numRuns: 25 },
      );
    });

    test(`${c.name} over all axes: backward matches finite differences`, () => {
      fc.assert(
        fc.property(shapeArb(0, 3, 4), seedArb, fc.boolean(), (shape, seed, keepDim) => {
          const x = distinctTensor(shape, seed).requireGrad();
          const out = c.run(x, keepDim);
          const weight = randomTensor([], seed + 1).item();
          out.backward(Tensor.fromData(Float32Array.of(weight), out.shape));
          const f = (inputs: RefTensor[]) => weight * c.ref(inputs[0]);
          expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0), TOLERANCES.gradient, `d${c.name}`);
        }),
        { numRuns: 15 },
      );
    });
  }

  test('sum over all axes of a long tensor matches the reference', () => {
    // 4 x 129 = 516 terms, summed axis by axis (129, then 4)
    const x = randomTensor([4, 129], 11);
    expectClose(ops.sum(x).contiguousData(), R.sumAll(toRef(x)).data, TOLERANCES.reduction, 'sum');
  });

  test('sum over an empty axis is 0 and logSumExp -inf; max of nothing is an error', () => {
    const x = Tensor.fromData(new Float32Array(0), [0, 3]);
    expect(ops.sum(x, 0).toArray()).toEqual([0, 0, 0]);
    expect(ops.sum(x).item()).toBe(0);
    expect(ops.logSumExp(x, 0).toArray()).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(ops.sum(x, 1).shape).toEqual([0]);
    expect(() => ops.max(x, 0)).toThrow(/max: cannot reduce over axis 0 of size 0 in \[0, 3\]/);
  });

  test('argmax: int32 index of the first maximum (values with many ties), any axis', () => {
    fc.assert(
      fc.property(axisCaseArb(1, 4, 9), seedArb, ({ shape, axis, keepDim }, seed) => {
        const x = tiedTensor(shape, seed);
        const out = ops.argmax(x, axis, keepDim);
        expect(out.dtype).toBe('int32');
        expectClose(out, R.argmax(toRef(x), axis, keepDim), TOLERANCES.exact, `argmax(axis ${axis}) of [${shape}]`);
        // max takes the value argmax points at
        expectClose(ops.max(x, axis, keepDim), R.max(toRef(x), axis, keepDim), TOLERANCES.exact, 'max');
      }),
      { numRuns: 30 },
    );
  });

  test('argmax along long axes', () => {
    fc.assert(
      fc.property(longAxisCaseArb(300), seedArb, ({ shape, axis, keepDim }, seed) => {
        const x = tiedTensor(shape, seed);
        expectClose(ops.argmax(x, axis, keepDim), R.argmax(toRef(x), axis, keepDim), TOLERANCES.exact, `argmax(axis ${axis}) of [${shape}]`);
      }),
      { numRuns: 6 },
    );
  });

  test('max sends the gradient to the first maximum only, as argmax picks it (PyTorch max(dim))', () => {
    const x = tensor([
      [1, 3, 3, 0],
      [2, 2, 2, 2],
      [-1, -4, -1, 5],
    ]).requireGrad();
    ops.max(x, 1).backward(tensor([10, 20, 30]));
    expect(x.grad!.toArray()).toEqual([
      [0, 10, 0, 0],
      [20, 0, 0, 0],
      [0, 0, 0, 30],
    ]);
    const y = tensor([[4, 1], [4, 4]]).requireGrad();
    ops.max(y).backward();
    expect(y.grad!.toArray()).toEqual([
      [1, 0],
      [0, 0],
    ]);
  });

  test('argmax is not differentiable: its output never requires a gradient', () => {
    const x = randomTensor([3, 4], 5).requireGrad();
    const out = ops.argmax(x, 1);
    expect(out.requiresGrad).toBe(false);
    expect(out.gradNode).toBeNull();
  });

  test('max and argmax propagate NaN like PyTorch: the first NaN wins', () => {
    fc.assert(
      fc.property(axisCaseArb(1, 3, 8), seedArb, ({ shape, axis, keepDim }, seed) => {
        const x = withNaNs(randomTensor(shape, seed), seed + 1, 0.15);
        expectClose(ops.max(x, axis, keepDim), R.max(toRef(x), axis, keepDim), TOLERANCES.exact, 'max with NaN');
        expectClose(ops.argmax(x, axis, keepDim), R.argmax(toRef(x), axis, keepDim), TOLERANCES.exact, 'argmax with NaN');
      }),
      { numRuns: 30 },
    );
    const x = tensor([
      [1, NaN, 3, NaN],
      [NaN, 9, 2, 1],
      [5, 2, 9, 1],
      [-Infinity, 4, 4, NaN],
    ]);
    expect(Array.from(ops.max(x, 1).contiguousData())).toEqual([NaN, NaN, 9, NaN]);
    expect(Array.from(ops.argmax(x, 1).contiguousData())).toEqual([1, 0, 2, 3]);
    expect(Array.from(ops.argmax(x, 0).contiguousData())).toEqual([1, 0, 2, 0]);
    expect(Number.isNaN(ops.max(x).item())).toBe(true);
    expect(ops.max(tensor([-Infinity, -Infinity])).item()).toBe(-Infinity);
  });

  test('logSumExp special values as in PyTorch: all -inf gives -inf, any +inf gives +inf, any NaN gives NaN', () => {
    const x = tensor([
      [-Infinity, -Infinity, -Infinity],
      [-Infinity, 0, -Infinity],
      [1, -Infinity, 2],
      [Infinity, 1, 2],
      [-Infinity, 3, Infinity],
      [1, NaN, 2],
      [NaN, Infinity, 1],
      [-Infinity, -Infinity, NaN],
    ]);
    const out = ops.logSumExp(x, 1);
    expect(Array.from(out.contiguousData()).filter((_, i) => i !== 1 && i !== 2)).toEqual([-Infinity, Infinity, Infinity, NaN, NaN, NaN]);
    expectClose(out, R.logSumExp(toRef(x), 1), TOLERANCES.softmax, 'logSumExp');
    expect(ops.logSumExp(x, 0, true).shape).toEqual([1, 3]);
    // along axis 0 of the rows without NaN: columns holding +inf give +inf
    const columns = ops.logSumExp(x.slice(0, 0, 5), 0);
    expect([columns.contiguousData()[0], columns.contiguousData()[2]]).toEqual([Infinity, Infinity]);
    expectClose(columns, R.logSumExp(toRef(x.slice(0, 0, 5).contiguous()), 0), TOLERANCES.softmax, 'logSumExp along axis 0');
  });

  test('logSumExp is stable and accurate for magnitudes of 1000 and more, forward and backward', () => {
    fc.assert(
      fc.property(axisCaseArb(1, 3, 6), seedArb, LARGE_RANGE, ({ shape, axis, keepDim }, seed, range) => {
        const x = randomTensor(shape, seed, ...range).requireGrad();
        const out = ops.logSumExp(x, axis, keepDim);
        expect(Array.from(out.contiguousData()).every(Number.isFinite)).toBe(true);
        expectClose(out, R.logSumExp(toRef(x), axis, keepDim), TOLERANCES.softmax, `logSumExp in [${range}]`);
        const weights = randomTensor(out.shape, seed + 1);
        out.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.logSumExp(inputs[0], axis, keepDim), toRef(weights));
        expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0, LARGE_H), TOLERANCES.gradient, `dlogSumExp in [${range}]`);
      }),
      // always one case at 10000 with 6 rows of 9 (the rounded-lse formula misses this one by 5x)
      { numRuns: 20, examples: [[{ shape: [6, 9], axis: -1, keepDim: false }, 5, [9900, 10100]]] },
    );
  });

  test('sumToShape sums a gradient back over broadcast axes', () => {
    fc.assert(
      fc.property(sumToShapeArb, seedArb, ([target, shape], seed) => {
        const g = randomTensor(shape, seed);
        expectClose(ops.sumToShape(g, target), R.sumToShape(toRef(g), target), TOLERANCES.reduction, `sumToShape [${shape}] -> [${target}]`);
      }),
      { numRuns: 40 },
    );
  });

  test('sumToShape: backward (a broadcast) matches finite differences', () => {
    fc.assert(
      fc.property(sumToShapeArb, seedArb, ([target, shape], seed) => {
        const g = randomTensor(shape, seed).requireGrad();
        const out = ops.sumToShape(g, target);
        const weights = randomTensor(target, seed + 1);
        out.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.sumToShape(inputs[0], target), toRef(weights));
        expectClose(g.grad!, finiteDifference(f, [toRef(g)], 0), TOLERANCES.gradient, 'dsumToShape');
      }),
      { numRuns: 15 },
    );
  });

  test('reductions read non-contiguous views correctly', () => {
    const x = randomTensor([5, 7, 3], 21);
    const view = x.permute([2, 0, 1]).slice(2, 1, 7, 2); // [3, 5, 3], strided
    const copy = toRef(view.contiguous());
    expectClose(ops.sum(view, 1), R.sum(copy, 1), TOLERANCES.reduction, 'sum of a view');
    expectClose(ops.max(view, -1, true), R.max(copy, -1, true), TOLERANCES.exact, 'max of a view');
    expectClose(ops.softmax(view, 0), R.softmax(copy, 0), TOLERANCES.softmax, 'softmax of a view');
  });
});

describeEachBackend('softmax and logSoftmax', () => {
  for (const c of SOFTMAXES) {
    test(`${c.name}: kernel matches the reference along any axis`, () => {
      fc.assert(
        fc.property(axisCaseArb(1, 4, 9), seedArb, ({ shape, axis }, seed) => {
          const x = randomTensor(shape, seed);
          const out = c.run(x, axis);
          expect(out.shape).toEqual(shape);
          expectClose(out, c.ref(toRef(x), axis), TOLERANCES.softmax, `${c.name}(axis ${axis}) of [${shape}]`);
        }),
        { numRuns: 30 },
      );
    });

    test(`${c.name}: kernel matches the reference along long axes`, () => {
      fc.assert(
        fc.property(longAxisCaseArb(300), seedArb, ({ shape, axis }, seed) => {
          const x = randomTensor(shape, seed);
          expectClose(c.run(x, axis), c.ref(toRef(x), axis), TOLERANCES.softmax, `${c.name}(axis ${axis}) of [${shape}]`);
        }),
        { numRuns: 8 },
      );
    });

    test(`${c.name}: backward matches finite differences`, () => {
      fc.assert(
        fc.property(axisCaseArb(1, 3, 5), seedArb, ({ shape, axis }, seed) => {
          const x = randomTensor(shape, seed).requireGrad();
          const out = c.run(x, axis);
          const weights = randomTensor(out.shape, seed + 1);
          out.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(c.ref(inputs[0], axis), toRef(weights));
          expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0), TOLERANCES.gradient, `d${c.name}(axis ${axis})`);
        }),
        { numRuns: 20 },
      );
    });

    test(`${c.name}: stable and accurate for magnitudes of 1000 and more, forward and backward`, () => {
      fc.assert(
        fc.property(axisCaseArb(1, 3, 6), seedArb, LARGE_RANGE, ({ shape, axis }, seed, range) => {
          const x = randomTensor(shape, seed, ...range).requireGrad();
          const out = c.run(x, axis);
          expect(Array.from(out.contiguousData()).every(Number.isFinite)).toBe(true);
          expectClose(out, c.ref(toRef(x), axis), TOLERANCES.softmax, `${c.name}(axis ${axis}) in [${range}]`);
          const weights = randomTensor(out.shape, seed + 1);
          out.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(c.ref(inputs[0], axis), toRef(weights));
          expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0, LARGE_H), TOLERANCES.gradient, `d${c.name}(axis ${axis}) in [${range}]`);
        }),
        { numRuns: 15, examples: [[{ shape: [6, 9], axis: -1, keepDim: false }, 5, [9900, 10100]]] },
      );
    });
  }

  test('softmax: every slice along the axis is non-negative and sums to 1', () => {
    fc.assert(
      fc.property(
        fc.oneof(axisCaseArb(1, 4, 9), longAxisCaseArb(300)),
        seedArb,
        fc.constantFrom<[number, number]>([-2, 2], [-30, 30], [900, 1100]),
        ({ shape, axis }, seed, range) => {
          const x = randomTensor(shape, seed, ...range);
          const y = ops.softmax(x, axis);
          const values = y.contiguousData();
          expect(values.every((v) => v >= 0 && v <= 1)).toBe(true);
          const rowSums = R.sum(toRef(y), axis);
          expectClose(rowSums.data, new Float64Array(rowSums.data.length).fill(1), TOLERANCES.softmax, `row sums of softmax(axis ${axis}) of [${shape}] in [${range}]`);
        },
      ),
      { numRuns: 30 },
    );
  });

  test('logSoftmax is log(softmax) and never positive', () => {
    fc.assert(
      fc.property(axisCaseArb(1, 3, 9), seedArb, ({ shape, axis }, seed) => {
        const x = randomTensor(shape, seed, -10, 10);
        const logY = ops.logSoftmax(x, axis);
        expect(logY.contiguousData().every((v) => v <= 0)).toBe(true);
        expectClose(ops.exp(logY), R.softmax(toRef(x), axis), TOLERANCES.softmax, 'exp(logSoftmax)');
      }),
      { numRuns: 20 },
    );
  });

  test('masked entries (-inf) get probability 0; a fully masked row is NaN as in PyTorch', () => {
    const x = tensor([
      [0.5, -Infinity, 1.5, -Infinity],
      [-Infinity, -Infinity, -Infinity, 2],
      [-Infinity, -Infinity, -Infinity, -Infinity],
    ]);
    const y = ops.softmax(x);
    const logY = ops.logSoftmax(x);
    expectClose(y, R.softmax(toRef(x), -1), TOLERANCES.softmax, 'masked softmax');
    expectClose(logY, R.logSoftmax(toRef(x), -1), TOLERANCES.softmax, 'masked logSoftmax');
    const rows = y.toArray() as number[][];
    expect(rows[0][1]).toBe(0);
    expect(rows[0][3]).toBe(0);
    expect(rows[1]).toEqual([0, 0, 0, 1]);
    expect(rows[2].every(Number.isNaN)).toBe(true);
    expect((logY.toArray() as number[][])[1]).toEqual([-Infinity, -Infinity, -Infinity, 0]);
  });

  test('NaN or +inf in a slice makes that slice NaN (as in PyTorch) and leaves the others alone', () => {
    const x = tensor([
      [1, NaN, 2],
      [1, 2, 3],
      [Infinity, 0, 1],
    ]);
    expectClose(ops.softmax(x, 1), R.softmax(toRef(x), 1), TOLERANCES.softmax, 'softmax');
    expectClose(ops.logSoftmax(x, 1), R.logSoftmax(toRef(x), 1), TOLERANCES.softmax, 'logSoftmax');
    for (const run of [ops.softmax, ops.logSoftmax]) {
      const rows = run(x, 1).toArray() as number[][];
      expect(rows[0].every(Number.isNaN)).toBe(true);
      expect(rows[1].every(Number.isFinite)).toBe(true);
      expect(rows[2].every(Number.isNaN)).toBe(true);
    }
  });
});

test('an out-of-range axis is an error naming the op, the axis and the rank', () => {
  const x = randomTensor([2, 3], 1);
  expect(() => ops.sum(x, 2)).toThrow(/sum: axis 2 is out of range for a tensor of rank 2/);
  expect(() => ops.sum(x, -3)).toThrow(/sum: axis -3 is out of range for a tensor of rank 2/);
  expect(() => ops.mean(x, 5, true)).toThrow(/mean: axis 5 is out of range for a tensor of rank 2/);
  expect(() => ops.max(x, -3)).toThrow(/max: axis -3 is out of range/);
  expect(() => ops.argmax(x, 2)).toThrow(/argmax: axis 2 is out of range/);
  expect(() => ops.logSumExp(x, 2)).toThrow(/logSumExp: axis 2 is out of range/);
  expect(() => ops.softmax(x, 2)).toThrow(/softmax: axis 2 is out of range for a tensor of rank 2/);
  expect(() => ops.logSoftmax(x, -3)).toThrow(/logSoftmax: axis -3 is out of range for a tensor of rank 2/);
  expect(() => ops.sum(x, 0.5)).toThrow(/sum: axis 0.5 is out of range/);
  expect(() => ops.softmax(tensor(1), 0)).toThrow(/softmax: axis 0 is out of range for a tensor of rank 0/);
});

test('integer tensors are rejected by reductions, naming the op and dtype', () => {
  const ids = tensor([[1, 2, 3]], { dtype: 'int32' });
  expect(() => ops.sum(ids, 1)).toThrow(/sum: expected a float32 tensor, got int32 of shape \[1, 3\]/);
  expect(() => ops.mean(ids)).toThrow(/mean: expected a float32 tensor, got int32/);
  expect(() => ops.max(ids, 0)).toThrow(/max: expected a float32 tensor, got int32/);
  expect(() => ops.argmax(ids, 0)).toThrow(/argmax: expected a float32 tensor, got int32/);
  expect(() => ops.logSumExp(ids, 0)).toThrow(/logSumExp: expected a float32 tensor, got int32/);
  expect(() => ops.softmax(ids)).toThrow(/softmax: expected a float32 tensor, got int32/);
  expect(() => ops.logSoftmax(ids)).toThrow(/logSoftmax: expected a float32 tensor, got int32/);
});

test('sumToShape to a shape the gradient was not broadcast from is an error naming both shapes', () => {
  expect(() => ops.sumToShape(randomTensor([2, 2], 1), [3])).toThrow(/sumToShape: cannot reduce a gradient of shape \[2, 2\] to \[3\]/);
  expect(() => ops.sumToShape(randomTensor([4], 1), [2, 4])).toThrow(/sumToShape: cannot reduce a gradient of shape \[4\] to \[2, 4\]/);
  // fewer axes than the target: nothing to sum, but the shapes still differ
  expect(() => ops.sumToShape(randomTensor([4], 1), [4, 4])).toThrow(/sumToShape: cannot reduce a gradient of shape \[4\] to \[4, 4\]/);
});
