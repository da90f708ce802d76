// add/sub/mul/div/pow (broadcasting and scalar forms) and the unary functions:
// kernel vs float64 reference, backward vs finite differences, broadcasting
// shapes, and the errors for bad shapes and dtypes.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { tensor } from '../../lib/tensor/creation.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES, type Tolerance } from '../../kernels/tolerances.ts';
import {
  broadcastPairArb,
  describeEachBackend,
  expectClose,
  finiteDifference,
  randomTensor,
  seedArb,
  shapeArb,
  toRef,
  weightedSum,
} from '../helpers.ts';

type Range = [number, number];

interface BinaryCase {
  name: string;
  run: (a: Tensor, b: Tensor) => Tensor;
  ref: (a: RefTensor, b: RefTensor) => RefTensor;
  tol: Tolerance;
  rangeA: Range;
  rangeB: Range;
}

// Ranges keep each op away from its singularities (division by ~0, log of <= 0).
const BINARY: BinaryCase[] = [
  { name: 'add', run: ops.add, ref: R.add, tol: TOLERANCES.rounded, rangeA: [-2, 2], rangeB: [-2, 2] },
  { name: 'sub', run: ops.sub, ref: R.sub, tol: TOLERANCES.rounded, rangeA: [-2, 2], rangeB: [-2, 2] },
  { name: 'mul', run: ops.mul, ref: R.mul, tol: TOLERANCES.rounded, rangeA: [-2, 2], rangeB: [-2, 2] },
  { name: 'div', run: ops.div, ref: R.div, tol: TOLERANCES.rounded, rangeA: [-2, 2], rangeB: [0.5, 2] },
  { name: 'pow', run: ops.pow, ref: R.pow, tol: TOLERANCES.transcendental, rangeA: [0.2, 2], rangeB: [-2, 2] },
];

interface UnaryCase {
  name: string;
  run: (x: Tensor) => Tensor;
  ref: (x: RefTensor) => RefTensor;
  tol: Tolerance;
  range: Range;
}

const UNARY: UnaryCase[] = [
  { name: 'neg', run: ops.neg, ref: R.neg, tol: TOLERANCES.exact, range: [-2, 2] },
  { name: 'sqrt', run: ops.sqrt, ref: R.sqrt, tol: TOLERANCES.rounded, range: [0.05, 4] },
  { name: 'rsqrt', run: ops.rsqrt, ref: R.rsqrt, tol: TOLERANCES.transcendental, range: [0.05, 4] },
  { name: 'exp', run: ops.exp, ref: R.exp, tol: TOLERANCES.transcendental, range: [-4, 4] },
  { name: 'log', run: ops.log, ref: R.log, tol: TOLERANCES.transcendental, range: [0.05, 4] },
  { name: 'tanh', run: ops.tanh, ref: R.tanh, tol: TOLERANCES.transcendental, range: [-4, 4] },
  { name: 'geluTanh', run: ops.geluTanh, ref: R.geluTanh, tol: TOLERANCES.transcendental, range: [-5, 5] },
  { name: 'softcap', run: (x) => ops.softcap(x, 2.5), ref: (x) => R.softcap(x, 2.5), tol: TOLERANCES.transcendental, range: [-8, 8] },
  // scalar forms, checked against the broadcasting reference with a 0-d operand
  { name: 'add scalar', run: (x) => ops.add(x, 0.75), ref: (x) => R.add(x, R.refTensor([], [0.75])), tol: TOLERANCES.rounded, range: [-2, 2] },
  { name: 'scalar sub', run: (x) => ops.sub(1.5, x), ref: (x) => R.sub(R.refTensor([], [1.5]), x), tol: TOLERANCES.rounded, range: [-2, 2] },
  { name: 'mul scalar', run: (x) => ops.mul(x, -1.25), ref: (x) => R.mul(x, R.refTensor([], [-1.25])), tol: TOLERANCES.rounded, range: [-2, 2] },
  { name: 'scalar div', run: (x) => ops.div(2, x), ref: (x) => R.div(R.refTensor([], [2]), x), tol: TOLERANCES.rounded, range: [0.5, 2] },
  { name: 'pow scalar', run: (x) => ops.pow(x, 3), ref: (x) => R.pow(x, R.refTensor([], [3])), tol: TOLERANCES.transcendental, range: [-2, 2] },
  { name: 'pow fractional', run: (x) => ops.pow(x, -1.5), ref: (x) => R.pow(x, R.refTensor([], [-1.5])), tol: TOLERANCES.transcendental, range: [0.2, 2] },
];

describeEachBackend('element-wise ops', () => {
  for (const c of BINARY) {
    test(`${c.name}: kernel matches the reference on broadcast shapes`, () => {
      fc.assert(
        fc.property(broadcastPairArb(4, 6), seedArb, ([shapeA, shapeB], seed) => {
          const a = randomTensor(shapeA, seed, ...c.rangeA);
          const b = randomTensor(shapeB, seed + 1, ...c.rangeB);
          const out = c.run(a, b);
          expect(out.shape).toEqual(R.broadcastShape(shapeA, shapeB));
          expectClose(out, c.ref(toRef(a), toRef(b)), c.tol, c.name);
        }),
        { numRuns: 60 },
      );
    });

    test(`${c.name}: backward matches finite differences, both inputs`, () => {
      fc.assert(
        fc.property(broadcastPairArb(3, 4), seedArb, ([shapeA, shapeB], seed) => {
          const a = randomTensor(shapeA, seed, ...c.rangeA).requireGrad();
          const b = randomTensor(shapeB, seed + 1, ...c.rangeB).requireGrad();
          const out = c.run(a, b);
          const weights = randomTensor(out.shape, seed + 2);
          out.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(c.ref(inputs[0], inputs[1]), toRef(weights));
          const refs = [toRef(a), toRef(b)];
          expectClose(a.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, `d${c.name}/da`);
          expectClose(b.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, `d${c.name}/db`);
        }),
        { numRuns: 25 },
      );
    });
  }

  for (const c of UNARY) {
    test(`${c.name}: kernel matches the reference`, () => {
      fc.assert(
        fc.property(shapeArb(0, 4, 7), seedArb, (shape, seed) => {
          const x = randomTensor(shape, seed, ...c.range);
          expectClose(c.run(x), c.ref(toRef(x)), c.tol, c.name);
        }),
        { numRuns: 40 },
      );
    });

    test(`${c.name}: backward matches finite differences`, () => {
      fc.assert(
        fc.property(shapeArb(0, 3, 5), seedArb, (shape, seed) => {
          const x = randomTensor(shape, seed, ...c.range).requireGrad();
          const out = c.run(x);
          const weights = randomTensor(out.shape, seed + 1);
          out.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(c.ref(inputs[0]), toRef(weights));
          expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0), TOLERANCES.gradient, `d${c.name}`);
        }),
        { numRuns: 20 },
      );
    });
  }

  test('softcap refuses a cap that is not a positive finite number', () => {
    for (const cap of [0, -1, Infinity, NaN]) expect(() => ops.softcap(randomTensor([3], 1), cap)).toThrow(/softcap: the cap must be a positive finite number/);
  });

  test('broadcasts that need more than three kernel axes are materialised and still exact', () => {
    // [2,1,3,1,2] against [1,2,1,3,1]: five alternating groups, so the operands are expanded first
    const a = randomTensor([2, 1, 3, 1, 2], 7);
    const b = randomTensor([1, 2, 1, 3, 1], 8);
    const out = ops.mul(a, b);
    expect(out.shape).toEqual([2, 2, 3, 3, 2]);
    expectClose(out, R.mul(toRef(a), toRef(b)), TOLERANCES.rounded, 'mul');
  });

  test('non-contiguous views (transposed, sliced, expanded) give the same values as their copies', () => {
    const x = randomTensor([4, 6], 3);
    const y = randomTensor([6, 4], 4);
    const viewed = ops.add(x.transpose(0, 1), y);
    expectClose(viewed, R.add(toRef(x.transpose(0, 1).contiguous()), toRef(y)), TOLERANCES.rounded, 'transposed add');
    const sliced = ops.mul(x.slice(1, 1, 6, 2), 2);
    expect(sliced.toArray()).toEqual(
      (x.toArray() as number[][]).map((row) => [row[1] * 2, row[3] * 2, row[5] * 2]).map((row) => row.map((v) => Math.fround(v))),
    );
  });

  test('special values: inf and NaN propagate as IEEE arithmetic says', () => {
    const x = tensor([0, -1, Infinity, -Infinity, NaN]);
    expect(Array.from(ops.exp(x).contiguousData())).toEqual([1, Math.fround(Math.exp(-1)), Infinity, 0, NaN]);
    expect(Array.from(ops.log(tensor([0, 1, -1])).contiguousData())).toEqual([-Infinity, 0, NaN]);
    expect(Array.from(ops.tanh(tensor([Infinity, -Infinity, 30])).contiguousData())).toEqual([1, -1, 1]);
  });
});

test('incompatible shapes are an error naming the op and both shapes', () => {
  expect(() => ops.add(randomTensor([2, 3], 1), randomTensor([4, 3], 2))).toThrow(/add: shapes \[2, 3\] and \[4, 3\] cannot be broadcast together/);
  expect(() => ops.mul(randomTensor([5], 1), randomTensor([2, 4], 2))).toThrow(/mul: shapes \[5\] and \[2, 4\]/);
});

test('integer tensors are rejected by arithmetic, naming the op and dtype', () => {
  const ids = tensor([1, 2, 3], { dtype: 'int32' });
  expect(() => ops.add(ids, randomTensor([3], 1))).toThrow(/add: expected a float32 tensor, got int32 of shape \[3\]/);
  expect(() => ops.exp(ids)).toThrow(/exp: expected a float32 tensor, got int32/);
});

test('a gradient that reaches a tensor twice is accumulated', () => {
  const x = tensor([1, 2, 3]).requireGrad();
  const y = ops.add(ops.mul(x, x), x); // dy/dx = 2x + 1
  ops.sum(y).backward();
  expect(Array.from(x.grad!.contiguousData())).toEqual([3, 5, 7]);
});
