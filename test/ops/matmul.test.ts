// matmul (2-D, batched with broadcast batch axes, 1-D operands on either side)
// and linear (x W^T + b): kernel vs float64 reference and vs a naive triple
// loop on awkward sizes, backward vs finite differences, and the errors for
// bad shapes and dtypes.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { tensor } from '../../lib/tensor/creation.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { broadcastPairArb, describeEachBackend, expectClose, finiteDifference, randomTensor, seedArb, shapeArb, toRef, weightedSum } from '../helpers.ts';

/** C = A B for row-major A [M, K] and B [K, N], as plain float64 loops. */
function naiveMatmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let total = 0;
      for (let k = 0; k < K; k++) total += a[m * K + k] * b[k * N + n];
      c[m * N + n] = total;
    }
  }
  return c;
}

/** The transpose of a row-major [rows, cols] matrix. */
function transposed(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

const AWKWARD = [1, 3, 17, 129];
const awkwardArb = fc.constantFrom(...AWKWARD);
const dimArb = fc.integer({ min: 1, max: 9 });

/**
 * Batch shapes for the two operands: a broadcastable pair (rank 1..3, sizes up
 * to 3), either of which may also be dropped entirely (a plain matrix).
 */
const batchPairArb: fc.Arbitrary<[number[], number[]]> = fc
  .tuple(broadcastPairArb(3, 3), fc.constantFrom('both', 'a only', 'b only'))
  .map(([[a, b], which]) => [which === 'b only' ? [] : a, which === 'a only' ? [] : b]);

/** Operand shapes for every form matmul accepts: 1-D on either side, 2-D, batched with broadcasting. */
function matmulShapesArb(maxDim: number, batch: fc.Arbitrary<[number[], number[]]>): fc.Arbitrary<[number[], number[]]> {
  const dim = fc.integer({ min: 1, max: maxDim });
  return fc.tuple(batch, dim, dim, dim, fc.boolean(), fc.boolean()).map(([[batchA, batchB], M, K, N, vectorA, vectorB]) => [
    vectorA ? [K] : [...batchA, M, K],
    vectorB ? [K] : [...batchB, K, N],
  ]);
}

/** The shape NumPy gives a @ b. */
function expectedShape(shapeA: number[], shapeB: number[]): number[] {
  const a = shapeA.length === 1 ? [1, ...shapeA] : shapeA;
  const b = shapeB.length === 1 ? [...shapeB, 1] : shapeB;
  const out = [...R.broadcastShape(a.slice(0, -2), b.slice(0, -2)), a[a.length - 2], b[b.length - 1]];
  if (shapeB.length === 1) out.pop();
  if (shapeA.length === 1) out.splice(out.length - (shapeB.length === 1 ? 1 : 2), 1);
  return out;
}

describeEachBackend('matmul', () => {
  test('2-D: kernel matches the reference', () => {
    fc.assert(
      fc.property(dimArb, dimArb, dimArb, seedArb, (M, K, N, seed) => {
        const a = randomTensor([M, K], seed);
        const b = randomTensor([K, N], seed + 1);
        const out = ops.matmul(a, b);
        expect(out.shape).toEqual([M, N]);
        expectClose(out, R.matmul(toRef(a), toRef(b)), TOLERANCES.matmul, `[${M}, ${K}] @ [${K}, ${N}]`);
      }),
      { numRuns: 30 },
    );
  });

  test('awkward sizes (every M, K, N from 1, 3, 17, 129): forward matches a naive triple loop', () => {
    let seed = 1;
    for (const M of AWKWARD) {
      for (const K of AWKWARD) {
        for (const N of AWKWARD) {
          const a = randomTensor([M, K], seed++);
          const b = randomTensor([K, N], seed++);
          const out = ops.matmul(a, b);
          expect(out.shape).toEqual([M, N]);
          expectClose(out.contiguousData(), naiveMatmul(a.contiguousData(), b.contiguousData(), M, K, N), TOLERANCES.matmul, `[${M}, ${K}] @ [${K}, ${N}]`);
        }
      }
    }
  });

  test('awkward sizes (every M, K, N): backward products dA = G B^T and dB = A^T G match naive triple loops', () => {
    let seed = 1000;
    for (const M of AWKWARD) {
      for (const K of AWKWARD) {
        for (const N of AWKWARD) {
          const a = randomTensor([M, K], seed++).requireGrad();
          const b = randomTensor([K, N], seed++).requireGrad();
          const g = randomTensor([M, N], seed++);
          ops.matmul(a, b).backward(g);
          const gData = g.contiguousData();
          const dA = naiveMatmul(gData, transposed(b.contiguousData(), K, N), M, N, K);
          const dB = naiveMatmul(transposed(a.contiguousData(), M, K), gData, K, M, N);
          expectClose(a.grad!.contiguousData(), dA, TOLERANCES.matmul, `dA for [${M}, ${K}] @ [${K}, ${N}]`);
          expectClose(b.grad!.contiguousData(), dB, TOLERANCES.matmul, `dB for [${M}, ${K}] @ [${K}, ${N}]`);
        }
      }
    }
  });

  test('batched, with broadcast batch axes, and 1-D operands: shape and values match the reference', () => {
    fc.assert(
      fc.property(matmulShapesArb(6, batchPairArb), seedArb, ([shapeA, shapeB], seed) => {
        const a = randomTensor(shapeA, seed);
        const b = randomTensor(shapeB, seed + 1);
        const out = ops.matmul(a, b);
        expect(out.shape).toEqual(expectedShape(shapeA, shapeB));
        expectClose(out, R.matmul(toRef(a), toRef(b)), TOLERANCES.matmul, `[${shapeA}] @ [${shapeB}]`);
      }),
      { numRuns: 40 },
    );
  });

  test('[2, 1, M, K] @ [3, K, N] broadcasts to [2, 3, M, N]: every batch entry is its own naive product', () => {
    const [M, K, N] = [4, 17, 5];
    const a = randomTensor([2, 1, M, K], 31);
    const b = randomTensor([3, K, N], 32);
    const out = ops.matmul(a, b);
    expect(out.shape).toEqual([2, 3, M, N]);
    const aData = a.contiguousData();
    const bData = b.contiguousData();
    const outData = out.contiguousData();
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const expected = naiveMatmul(aData.subarray(i * M * K, (i + 1) * M * K), bData.subarray(j * K * N, (j + 1) * K * N), M, K, N);
        const at = (i * 3 + j) * M * N;
        expectClose(outData.subarray(at, at + M * N), expected, TOLERANCES.matmul, `batch [${i}, ${j}]`);
      }
    }
  });

  test('1-D operands follow NumPy: vector @ matrix, matrix @ vector, vector @ vector', () => {
    const v = tensor([1, 2]);
    const m = tensor([
      [3, 4, 5],
      [6, 7, 8],
    ]);
    const vm = ops.matmul(v, m);
    expect(vm.shape).toEqual([3]);
    expect(vm.toArray()).toEqual([15, 18, 21]);
    const mv = ops.matmul(tensor([[1, 2], [3, 4], [5, 6]]), v);
    expect(mv.shape).toEqual([3]);
    expect(mv.toArray()).toEqual([5, 11, 17]);
    const dot = ops.matmul(v, tensor([3, 4]));
    expect(dot.shape).toEqual([]);
    expect(dot.item()).toBe(11);
    const batched = ops.matmul(v, randomTensor([4, 2, 3], 5));
    expect(batched.shape).toEqual([4, 3]);
    expect(ops.matmul(randomTensor([4, 3, 2], 5), v).shape).toEqual([4, 3]);
  });

  test('non-contiguous operands (transposed, sliced) give the same values as their copies', () => {
    const a = randomTensor([7, 5], 41);
    const b = randomTensor([3, 9, 7], 42);
    const viewA = a.transpose(0, 1); // [5, 7]
    const viewB = b.slice(1, 0, 9, 2).transpose(-2, -1); // [3, 7, 5]
    const out = ops.matmul(viewB, viewA);
    expectClose(out, R.matmul(toRef(viewB.contiguous()), toRef(viewA.contiguous())), TOLERANCES.matmul, 'strided operands');
  });

  test('zero-size axes: an empty product is zeros, an empty output is empty', () => {
    const zerosOut = ops.matmul(Tensor.fromData(new Float32Array(0), [2, 0]), Tensor.fromData(new Float32Array(0), [0, 3]));
    expect(zerosOut.toArray()).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(ops.matmul(Tensor.fromData(new Float32Array(0), [0, 4]), randomTensor([4, 3], 1)).shape).toEqual([0, 3]);
  });

  test('backward matches finite differences for both operands, including broadcast batch axes and 1-D operands', () => {
    fc.assert(
      fc.property(matmulShapesArb(4, batchPairArb), seedArb, ([shapeA, shapeB], seed) => {
        const a = randomTensor(shapeA, seed).requireGrad();
        const b = randomTensor(shapeB, seed + 1).requireGrad();
        const out = ops.matmul(a, b);
        const weights = randomTensor(out.shape, seed + 2);
        out.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.matmul(inputs[0], inputs[1]), toRef(weights));
        const refs = [toRef(a), toRef(b)];
        expectClose(a.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, `dA for [${shapeA}] @ [${shapeB}]`);
        expectClose(b.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, `dB for [${shapeA}] @ [${shapeB}]`);
      }),
      { numRuns: 30 },
    );
  });

  test('backward with only one operand requiring a gradient leaves the other alone', () => {
    const a = randomTensor([2, 3, 4], 51);
    const b = randomTensor([4, 5], 52).requireGrad();
    const out = ops.matmul(a, b);
    const weights = randomTensor(out.shape, 53);
    out.backward(weights);
    expect(a.grad).toBeNull();
    const f = (inputs: RefTensor[]) => weightedSum(R.matmul(inputs[0], inputs[1]), toRef(weights));
    expectClose(b.grad!, finiteDifference(f, [toRef(a), toRef(b)], 1), TOLERANCES.gradient, 'dB');
  });
});

describeEachBackend('linear', () => {
  /** x [..., in] (rank 1..3), weight [out, in], and whether there is a bias. */
  const linearArb = fc.tuple(shapeArb(0, 2, 4), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.boolean());

  test('kernel matches the reference, x of rank 1..3, with and without bias', () => {
    fc.assert(
      fc.property(linearArb, seedArb, ([lead, inFeatures, outFeatures, hasBias], seed) => {
        const x = randomTensor([...lead, inFeatures], seed);
        const weight = randomTensor([outFeatures, inFeatures], seed + 1);
        const bias = hasBias ? randomTensor([outFeatures], seed + 2) : undefined;
        const out = ops.linear(x, weight, bias);
        expect(out.shape).toEqual([...lead, outFeatures]);
        expectClose(out, R.linear(toRef(x), toRef(weight), bias && toRef(bias)), TOLERANCES.matmul, `linear [${x.shape}] x [${weight.shape}]`);
      }),
      { numRuns: 30 },
    );
  });

  test('awkward sizes: forward matches a naive x W^T + b', () => {
    fc.assert(
      fc.property(awkwardArb, awkwardArb, awkwardArb, seedArb, (rows, inFeatures, outFeatures, seed) => {
        const x = randomTensor([rows, inFeatures], seed);
        const weight = randomTensor([outFeatures, inFeatures], seed + 1);
        const bias = randomTensor([outFeatures], seed + 2);
        const expected = naiveMatmul(x.contiguousData(), transposed(weight.contiguousData(), outFeatures, inFeatures), rows, inFeatures, outFeatures);
        const biasData = bias.contiguousData();
        expected.forEach((v, i) => (expected[i] = v + biasData[i % outFeatures]));
        expectClose(ops.linear(x, weight, bias).contiguousData(), expected, TOLERANCES.matmul, `linear [${rows}, ${inFeatures}] x [${outFeatures}, ${inFeatures}]`);
      }),
      { numRuns: 12 },
    );
  });

  test('backward matches finite differences for x, weight and bias', () => {
    fc.assert(
      fc.property(linearArb, seedArb, ([lead, inFeatures, outFeatures, hasBias], seed) => {
        const inF = Math.min(inFeatures, 5);
        const outF = Math.min(outFeatures, 5);
        const x = randomTensor([...lead, inF], seed).requireGrad();
        const weight = randomTensor([outF, inF], seed + 1).requireGrad();
        const bias = hasBias ? randomTensor([outF], seed + 2).requireGrad() : undefined;
        const out = ops.linear(x, weight, bias);
        const weights = randomTensor(out.shape, seed + 3);
        out.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.linear(inputs[0], inputs[1], inputs[2]), toRef(weights));
        const refs = bias ? [toRef(x), toRef(weight), toRef(bias)] : [toRef(x), toRef(weight)];
        expectClose(x.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, `dx for [${x.shape}]`);
        expectClose(weight.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, `dweight [${weight.shape}]`);
        if (bias) expectClose(bias.grad!, finiteDifference(f, refs, 2), TOLERANCES.gradient, `dbias [${bias.shape}]`);
      }),
      { numRuns: 25 },
    );
  });
});

test('mismatched inner dimensions are an error naming matmul and both shapes', () => {
  expect(() => ops.matmul(randomTensor([2, 3], 1), randomTensor([4, 5], 2))).toThrow(/matmul: inner dimensions differ: \[2, 3\] @ \[4, 5\] \(3 != 4\)/);
  expect(() => ops.matmul(randomTensor([6, 2, 3], 1), randomTensor([2, 5], 2))).toThrow(/matmul: inner dimensions differ: \[6, 2, 3\] @ \[2, 5\]/);
  // 1-D operands are named as given, not as the promoted [1, K] / [K, 1]
  expect(() => ops.matmul(randomTensor([3], 1), randomTensor([2, 3], 2))).toThrow(/matmul: inner dimensions differ: \[3\] @ \[2, 3\] \(3 != 2\)/);
  expect(() => ops.matmul(randomTensor([2, 3], 1), randomTensor([2], 2))).toThrow(/matmul: inner dimensions differ: \[2, 3\] @ \[2\] \(3 != 2\)/);
  expect(() => ops.matmul(randomTensor([3], 1), randomTensor([4], 2))).toThrow(/matmul: inner dimensions differ: \[3\] @ \[4\]/);
});

test('batch axes that do not broadcast are an error naming matmul and both shapes', () => {
  expect(() => ops.matmul(randomTensor([2, 3, 4], 1), randomTensor([3, 4, 5], 2))).toThrow(
    /matmul: batch dimensions of \[2, 3, 4\] and \[3, 4, 5\] cannot be broadcast together \(\[2\] vs \[3\]\)/,
  );
});

test('rank-0 operands are an error naming matmul', () => {
  expect(() => ops.matmul(tensor(2), randomTensor([2], 1))).toThrow(/matmul: operands must have at least one axis, got \[\] and \[2\]/);
});

test('linear with a wrong weight or bias shape is an error naming linear and the shapes', () => {
  const x = randomTensor([4, 3], 1);
  expect(() => ops.linear(x, randomTensor([5, 2], 2))).toThrow(/linear: input \[4, 3\] has 3 features but weight \[5, 2\] expects 2/);
  expect(() => ops.linear(x, randomTensor([3], 2))).toThrow(/linear: weight must have rank 2, got shape \[3\]/);
  expect(() => ops.linear(x, randomTensor([2, 5, 3], 2))).toThrow(/linear: weight must have rank 2, got shape \[2, 5, 3\]/);
  expect(() => ops.linear(x, randomTensor([5, 3], 2), randomTensor([4], 3))).toThrow(/linear: bias shape \[4\] does not match weight \[5, 3\] \(expected \[5\]\)/);
  expect(() => ops.linear(x, randomTensor([5, 3], 2), randomTensor([1, 5], 3))).toThrow(/linear: bias shape \[1, 5\] does not match weight \[5, 3\]/);
  expect(() => ops.linear(tensor(1), randomTensor([5, 1], 2))).toThrow(/linear: input must have at least one axis/);
});

test('integer operands are rejected by matmul and linear, naming the op and dtype', () => {
  const ids = tensor([[1, 2], [3, 4]], { dtype: 'int32' });
  const w = randomTensor([2, 2], 1);
  expect(() => ops.matmul(ids, w)).toThrow(/matmul: expected a float32 tensor, got int32 of shape \[2, 2\]/);
  expect(() => ops.matmul(w, ids)).toThrow(/matmul: expected a float32 tensor, got int32 of shape \[2, 2\]/);
  expect(() => ops.linear(ids, w)).toThrow(/linear: expected a float32 tensor, got int32 of shape \[2, 2\]/);
  expect(() => ops.linear(w, ids)).toThrow(/linear: expected a float32 tensor, got int32/);
  expect(() => ops.linear(w, w, tensor([1, 2], { dtype: 'int32' }))).toThrow(/linear: expected a float32 tensor, got int32 of shape \[2\]/);
});
