// Ops that select or move values: embedding (gather and its scatter-add
// backward, paddingIdx), concat (float and int32, any axis) and
// where/maskedFill (broadcasting conditions and masks, -Infinity fills):
// kernel vs float64 reference (bit-exact: nothing is computed, only moved),
// backward vs a plain scatter loop, the output-gradient slices or finite
// differences, and the errors for bad ids, shapes and dtypes.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { randint, tensor } from '../../lib/tensor/creation.ts';
import { GradientError } from '../../lib/autograd/tape.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
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

/** int32 ids of `shape`, uniform in [0, vocab), from the seeded stream. */
function randomIds(shape: number[], vocab: number, seed: number): Tensor {
  return randint(shape, 0, vocab, { seed });
}

/** A condition or mask of `shape`: int32 in {0, 1, 2, -1} or float32 in {0, -0, 0.5, 1, -3}, about half non-zero. */
function randomMask(shape: number[], seed: number, dtype: 'int32' | 'float32'): Tensor {
  const picks = randint(shape, 0, 8, { seed }).contiguousData();
  const intValues = [0, 0, 0, 0, 1, 1, 2, -1];
  const floatValues = [0, -0, 0, 0, 0.5, 1, 1, -3];
  const values = dtype === 'int32' ? intValues : floatValues;
  const data = dtype === 'int32' ? new Int32Array(picks.length) : new Float32Array(picks.length);
  for (let i = 0; i < picks.length; i++) data[i] = values[picks[i]];
  return Tensor.fromData(data, shape);
}

/** Three shapes that broadcast together: random axes of a base shape set to 1, leading axes dropped. */
function broadcastTripleArb(maxRank: number, maxSize: number): fc.Arbitrary<[number[], number[], number[]]> {
  return shapeArb(1, maxRank, maxSize).chain((shape) => {
    const variant = fc
      .tuple(fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), fc.integer({ min: 0, max: shape.length - 1 }))
      .map(([ones, drop]) => shape.map((d, i) => (ones[i] ? 1 : d)).slice(drop));
    return fc.tuple(variant, variant, variant);
  });
}

/** The upstream gradient rows scattered into [vocab, hidden] in float64, skipping paddingIdx: what the weight gradient must be. */
function scatterAdd(ids: ArrayLike<number>, g: ArrayLike<number>, vocab: number, hidden: number, paddingIdx?: number): Float64Array {
  const out = new Float64Array(vocab * hidden);
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] === paddingIdx) continue;
    for (let h = 0; h < hidden; h++) out[ids[t] * hidden + h] += g[t * hidden + h];
  }
  return out;
}

const embeddingCaseArb = fc.record({
  idsShape: shapeArb(1, 3, 5),
  vocab: fc.integer({ min: 1, max: 40 }),
  hidden: fc.integer({ min: 1, max: 33 }),
  seed: seedArb,
});

/** 2..4 tensors that agree outside one axis, their lengths along it (0 allowed), and the axis (negative half of the time). */
const concatCaseArb = shapeArb(1, 4, 4).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    axis: fc.integer({ min: -shape.length, max: shape.length - 1 }),
    lengths: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 2, maxLength: 4 }),
    seed: seedArb,
  }),
);

function concatInputs(shape: number[], axis: number, lengths: number[], seed: number): Tensor[] {
  const a = axis < 0 ? axis + shape.length : axis;
  return lengths.map((length, i) => randomTensor(shape.map((d, k) => (k === a ? length : d)), seed + i));
}

describeEachBackend('selection ops', () => {
  // ---- embedding --------------------------------------------------------------

  test('embedding: gather is bit-exact vs the reference for ids of rank 1..3', () => {
    fc.assert(
      fc.property(embeddingCaseArb, ({ idsShape, vocab, hidden, seed }) => {
        const ids = randomIds(idsShape, vocab, seed);
        const weight = randomTensor([vocab, hidden], seed + 1);
        const out = ops.embedding(ids, weight);
        expect(out.shape).toEqual([...idsShape, hidden]);
        expectClose(out, R.embedding(Array.from(ids.contiguousData()), idsShape, toRef(weight)), TOLERANCES.exact, 'embedding');
      }),
      { numRuns: 40 },
    );
  });

  test('embedding: a large vocabulary is read exactly up to its last row', () => {
    // gemma-2's vocabulary is 256000 rows: every row index must reach the kernel exactly
    const vocab = 262_147;
    const weight = randomTensor([vocab, 2], 5);
    const ids = tensor([[vocab - 1, 0], [vocab - 2, 131_073], [2 ** 17 + 1, vocab - 1]], { dtype: 'int32' });
    expectClose(ops.embedding(ids, weight), R.embedding(Array.from(ids.contiguousData()), ids.shape, toRef(weight)), TOLERANCES.exact, 'embedding');
  });

  test('embedding: the weight gradient is the scatter-add of the output gradient (repeated ids accumulate)', () => {
    // a small vocabulary makes repeated ids the rule, not the exception
    fc.assert(
      fc.property(embeddingCaseArb, fc.integer({ min: 1, max: 6 }), ({ idsShape, hidden, seed }, vocab) => {
        const ids = randomIds(idsShape, vocab, seed);
        const weight = randomTensor([vocab, hidden], seed + 1).requireGrad();
        const out = ops.embedding(ids, weight);
        const g = randomTensor(out.shape, seed + 2);
        out.backward(g);
        const expected = scatterAdd(ids.contiguousData(), g.contiguousData(), vocab, hidden);
        expectClose(weight.grad!, { shape: [vocab, hidden], data: expected }, TOLERANCES.reduction, 'dembedding/dweight');
        // rows no id looked up receive exactly nothing
        const used = new Set(ids.contiguousData());
        const grad = weight.grad!.contiguousData();
        for (let v = 0; v < vocab; v++) {
          if (!used.has(v)) expect(Array.from(grad.subarray(v * hidden, (v + 1) * hidden))).toEqual(new Array(hidden).fill(0));
        }
      }),
      { numRuns: 30 },
    );
  });

  test('embedding: the weight gradient matches finite differences of the reference', () => {
    fc.assert(
      fc.property(shapeArb(1, 2, 4), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), seedArb, (idsShape, vocab, hidden, seed) => {
        const ids = randomIds(idsShape, vocab, seed);
        const weight = randomTensor([vocab, hidden], seed + 1).requireGrad();
        const out = ops.embedding(ids, weight);
        const weights = randomTensor(out.shape, seed + 2);
        out.backward(weights);
        const idList = Array.from(ids.contiguousData());
        const f = (inputs: RefTensor[]) => weightedSum(R.embedding(idList, idsShape, inputs[0]), toRef(weights));
        expectClose(weight.grad!, finiteDifference(f, [toRef(weight)], 0), TOLERANCES.gradient, 'dembedding/dweight');
      }),
      { numRuns: 20 },
    );
  });

  test('embedding: with paddingIdx the pad row gets no gradient from lookups, the forward still reads it', () => {
    fc.assert(
      fc.property(embeddingCaseArb, fc.integer({ min: 2, max: 6 }), ({ idsShape, hidden, seed }, vocab) => {
        const ids = randomIds(idsShape, vocab, seed);
        const idData = ids.contiguousData();
        const paddingIdx = idData[0]; // always looked up at least once
        const weight = randomTensor([vocab, hidden], seed + 1).requireGrad();
        const out = ops.embedding(ids, weight, paddingIdx);
        expectClose(out, R.embedding(Array.from(idData), idsShape, toRef(weight)), TOLERANCES.exact, 'embedding with paddingIdx');
        const g = randomTensor(out.shape, seed + 2);
        out.backward(g);
        const grad = weight.grad!.contiguousData();
        expect(Array.from(grad.subarray(paddingIdx * hidden, (paddingIdx + 1) * hidden))).toEqual(new Array(hidden).fill(0));
        const expected = scatterAdd(idData, g.contiguousData(), vocab, hidden, paddingIdx);
        expectClose(weight.grad!, { shape: [vocab, hidden], data: expected }, TOLERANCES.reduction, 'dembedding/dweight with paddingIdx');
      }),
      { numRuns: 25 },
    );
  });

  test('embedding: a gradient that only ever reaches the pad row is all zeros', () => {
    const weight = randomTensor([4, 3], 9).requireGrad();
    ops.embedding(tensor([2, 2, 2], { dtype: 'int32' }), weight, 2).backward(randomTensor([3, 3], 10));
    expect(Array.from(weight.grad!.contiguousData())).toEqual(new Array(12).fill(0));
  });

  test('embedding: a negative paddingIdx counts from the end of the vocabulary, as in torch', () => {
    const weight = tensor([[1, 2], [3, 4], [5, 6]]).requireGrad();
    // sum() hands back a broadcast (stride-0) gradient: each lookup adds ones to its row
    ops.sum(ops.embedding(tensor([[2, 0], [2, 1]], { dtype: 'int32' }), weight, -1)).backward();
    expect(weight.grad!.toArray()).toEqual([[1, 1], [1, 1], [0, 0]]);
    weight.zeroGrad();
    ops.sum(ops.embedding(tensor([[2, 0], [2, 1]], { dtype: 'int32' }), weight)).backward();
    expect(weight.grad!.toArray()).toEqual([[1, 1], [1, 1], [2, 2]]);
  });

  test('embedding: empty ids give an empty output and a zero gradient', () => {
    const weight = randomTensor([4, 3], 9).requireGrad();
    const out = ops.embedding(tensor([], { dtype: 'int32', shape: [2, 0] }), weight);
    expect(out.shape).toEqual([2, 0, 3]);
    ops.sum(out).backward();
    expect(Array.from(weight.grad!.contiguousData())).toEqual(new Array(12).fill(0));
  });

  // ---- concat -----------------------------------------------------------------

  test('concat: 2..4 float tensors along any axis (negative too) are exact vs the reference', () => {
    fc.assert(
      fc.property(concatCaseArb, ({ shape, axis, lengths, seed }) => {
        const inputs = concatInputs(shape, axis, lengths, seed);
        const out = ops.concat(inputs, axis);
        expectClose(out, R.concat(inputs.map(toRef), axis), TOLERANCES.exact, `concat axis ${axis}`);
      }),
      { numRuns: 50 },
    );
  });

  test('concat: non-contiguous inputs give the same values as their copies', () => {
    const x = randomTensor([3, 5], 1);
    const y = randomTensor([5, 2], 2);
    const out = ops.concat([x.transpose(0, 1), y, x.slice(0, 0, 3, 2).transpose(0, 1)], -1);
    const refs = [toRef(x.transpose(0, 1).contiguous()), toRef(y), toRef(x.slice(0, 0, 3, 2).transpose(0, 1).contiguous())];
    expectClose(out, R.concat(refs, 1), TOLERANCES.exact, 'concat of views');
  });

  test('concat: int32 tensors are exact for ids beyond 2^24 (up to 2^31 - 1)', () => {
    fc.assert(
      fc.property(concatCaseArb, ({ shape, axis, lengths, seed }) => {
        const a = axis < 0 ? axis + shape.length : axis;
        const inputs = lengths.map((length, i) =>
          randint(shape.map((d, k) => (k === a ? length : d)), 2 ** 30, 2 ** 31 - 1, { seed: seed + i }),
        );
        const out = ops.concat(inputs, axis);
        expect(out.dtype).toBe('int32');
        const expected = R.concat(inputs.map(toRef), axis);
        expect(out.shape).toEqual(expected.shape);
        expect(Array.from(out.contiguousData())).toEqual(Array.from(expected.data));
      }),
      { numRuns: 30 },
    );
    const ids = ops.concat([tensor([2 ** 30, 2 ** 24 + 1], { dtype: 'int32' }), tensor([2 ** 31 - 1, -(2 ** 31)], { dtype: 'int32' })]);
    expect(Array.from(ids.contiguousData())).toEqual([2 ** 30, 2 ** 24 + 1, 2 ** 31 - 1, -(2 ** 31)]);
  });

  test('concat: the gradient splits back into each input (only those that require one)', () => {
    fc.assert(
      fc.property(concatCaseArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), ({ shape, axis, lengths, seed }, needs) => {
        const inputs = concatInputs(shape, axis, lengths, seed);
        if (!needs.slice(0, inputs.length).some(Boolean)) needs[0] = true;
        inputs.forEach((t, i) => needs[i] && t.requireGrad());
        const out = ops.concat(inputs, axis);
        const weights = randomTensor(out.shape, seed + 10);
        out.backward(weights);
        const f = (refs: RefTensor[]) => weightedSum(R.concat(refs, axis), toRef(weights));
        const refs = inputs.map(toRef);
        inputs.forEach((t, i) => {
          if (!needs[i]) {
            expect(t.grad).toBeNull();
            return;
          }
          // d concat / d input is a 0/1 selection: the gradient is a slice of `weights`, exactly
          expectClose(t.grad!, finiteDifference(f, refs, i), TOLERANCES.gradient, `dconcat/dinput${i}`);
          const a = axis < 0 ? axis + shape.length : axis;
          const start = lengths.slice(0, i).reduce((s, n) => s + n, 0);
          expectClose(t.grad!, toRef(weights.narrow(a, start, lengths[i]).contiguous()), TOLERANCES.exact, `dconcat/dinput${i} slice`);
        });
      }),
      { numRuns: 30 },
    );
  });

  // ---- where / maskedFill -----------------------------------------------------

  for (const maskType of ['int32', 'float32'] as const) {
    test(`where: ${maskType} condition, all three operands broadcast, exact vs the reference`, () => {
      fc.assert(
        fc.property(broadcastTripleArb(4, 4), seedArb, ([shapeC, shapeA, shapeB], seed) => {
          const condition = randomMask(shapeC, seed, maskType);
          const a = randomTensor(shapeA, seed + 1);
          const b = randomTensor(shapeB, seed + 2);
          const out = ops.where(condition, a, b);
          expectClose(out, R.where(toRef(condition), toRef(a), toRef(b)), TOLERANCES.exact, 'where');
        }),
        { numRuns: 40 },
      );
    });

    test(`where: gradients flow only to the selected side (${maskType} condition, vs finite differences)`, () => {
      fc.assert(
        fc.property(broadcastTripleArb(3, 4), seedArb, ([shapeC, shapeA, shapeB], seed) => {
          const condition = randomMask(shapeC, seed, maskType);
          const a = randomTensor(shapeA, seed + 1).requireGrad();
          const b = randomTensor(shapeB, seed + 2).requireGrad();
          const out = ops.where(condition, a, b);
          const weights = randomTensor(out.shape, seed + 3);
          out.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(R.where(toRef(condition), inputs[0], inputs[1]), toRef(weights));
          const refs = [toRef(a), toRef(b)];
          expectClose(a.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, 'dwhere/da');
          expectClose(b.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, 'dwhere/db');
        }),
        { numRuns: 25 },
      );
    });

    test(`maskedFill: ${maskType} mask broadcast against x, any fill value (±Infinity, NaN too), exact vs the reference`, () => {
      fc.assert(
        fc.property(
          broadcastPairArb(4, 5),
          seedArb,
          fc.oneof(fc.constantFrom(-Infinity, Infinity, 0, -1e9, 0.1), fc.float(), fc.double()),
          ([shapeX, shapeM], seed, value) => {
            const x = randomTensor(shapeX, seed);
            const mask = randomMask(shapeM, seed + 1, maskType);
            const out = ops.maskedFill(x, mask, value);
            // a float32 tensor holds the fill rounded to float32 (0.1 -> 0.100000001..., 1e300 -> Infinity)
            expectClose(out, R.maskedFill(toRef(x), toRef(mask), Math.fround(value)), TOLERANCES.exact, `maskedFill ${value}`);
          },
        ),
        { numRuns: 40 },
      );
    });

    test(`maskedFill: the gradient reaches only unmasked positions, also with -Infinity fills (${maskType} mask)`, () => {
      fc.assert(
        fc.property(broadcastPairArb(3, 4), seedArb, ([shapeX, shapeM], seed) => {
          const mask = randomMask(shapeM, seed + 1, maskType);
          const outShape = R.broadcastShape(shapeX, shapeM);
          const weights = randomTensor(outShape, seed + 2);
          // the reference is differentiated with a finite fill; the gradient w.r.t. x does not depend on the fill
          const f = (inputs: RefTensor[]) => weightedSum(R.maskedFill(inputs[0], toRef(mask), 7), toRef(weights));
          for (const value of [-Infinity, 7]) {
            const x = randomTensor(shapeX, seed).requireGrad();
            ops.maskedFill(x, mask, value).backward(weights);
            expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0), TOLERANCES.gradient, `dmaskedFill/dx (fill ${value})`);
          }
        }),
        { numRuns: 25 },
      );
    });
  }

  test('where/maskedFill: NaN conditions count as true, like any non-zero', () => {
    const condition = tensor([NaN, 0, -0, 1]);
    const a = tensor([1, 2, 3, 4]);
    const b = tensor([-1, -2, -3, -4]);
    expect(Array.from(ops.where(condition, a, b).contiguousData())).toEqual([1, -2, -3, 4]);
    expect(Array.from(ops.maskedFill(a, condition, -Infinity).contiguousData())).toEqual([-Infinity, 2, 3, -Infinity]);
  });

  test('maskedFill with -Infinity then softmax gives exact zeros where masked (the attention-mask use)', () => {
    const scores = randomTensor([2, 3, 4], 3);
    const causal = tensor([[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]], { dtype: 'int32' });
    const probs = ops.softmax(ops.maskedFill(scores, causal, -Infinity), -1).contiguousData();
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 4; j++) {
          const p = probs[(b * 3 + i) * 4 + j];
          if (j > i) expect(p).toBe(0);
          else expect(p).toBeGreaterThan(0);
        }
      }
    }
  });
});

// ---- errors -------------------------------------------------------------------

test('embedding: out-of-range ids are an error naming embedding, the id and the vocabulary', () => {
  const weight = randomTensor([5, 3], 1);
  expect(() => ops.embedding(tensor([0, 5], { dtype: 'int32' }), weight)).toThrow(/embedding: id 5 at flat position 1 of ids \[2\] is outside the vocabulary \[0, 5\)/);
  expect(() => ops.embedding(tensor([[1, -1]], { dtype: 'int32' }), weight)).toThrow(/embedding: id -1 .* of ids \[1, 2\]/);
});

test('embedding: a paddingIdx that is not a row of the weight is an error naming embedding', () => {
  const weight = randomTensor([5, 3], 1);
  const ids = tensor([0, 1], { dtype: 'int32' });
  expect(() => ops.embedding(ids, weight, 5)).toThrow(/embedding: paddingIdx 5 is not a row of weight \[5, 3\] \(expected an integer in \[-5, 5\)\)/);
  expect(() => ops.embedding(ids, weight, -6)).toThrow(/embedding: paddingIdx -6 is not a row of weight \[5, 3\]/);
  expect(() => ops.embedding(ids, weight, 1.5)).toThrow(/embedding: paddingIdx 1.5 is not a row/);
});

test('embedding: float ids and a weight that is not [V, H] float32 are errors naming embedding', () => {
  const weight = randomTensor([5, 3], 1);
  expect(() => ops.embedding(tensor([0, 1]), weight)).toThrow(/embedding: ids must be an int32 tensor, got float32 of shape \[2\]/);
  expect(() => ops.embedding(tensor([0, 1], { dtype: 'int32' }), randomTensor([15], 1))).toThrow(/embedding: weight must have rank 2, got shape \[15\]/);
  expect(() => ops.embedding(tensor([0, 1], { dtype: 'int32' }), tensor([[1, 2]], { dtype: 'int32' }))).toThrow(/embedding: expected a float32 tensor, got int32/);
});

test('concat: shapes that differ outside the axis are an error naming concat and every shape', () => {
  expect(() => ops.concat([randomTensor([2, 3], 1), randomTensor([3, 3], 2)], 1)).toThrow(/concat: shapes \[2, 3\], \[3, 3\] differ outside axis 1/);
  expect(() => ops.concat([randomTensor([2, 3], 1), randomTensor([2, 3, 1], 2)], 0)).toThrow(/concat: shapes \[2, 3\], \[2, 3, 1\]/);
  expect(() => ops.concat([randomTensor([2, 3], 1), randomTensor([2, 4], 2)], -2)).toThrow(/concat: shapes \[2, 3\], \[2, 4\] differ outside axis -2/);
});

test('concat: mixed dtypes, a bad axis and an empty list are errors naming concat', () => {
  expect(() => ops.concat([randomTensor([2], 1), tensor([1, 2], { dtype: 'int32' })])).toThrow(/concat: cannot join float32 and int32 tensors/);
  expect(() => ops.concat([randomTensor([2, 3], 1), randomTensor([2, 3], 2)], 2)).toThrow(/concat: axis 2 is out of range for a tensor of rank 2/);
  expect(() => ops.concat([randomTensor([2, 3], 1), randomTensor([2, 3], 2)], -3)).toThrow(/concat: axis -3 is out of range/);
  expect(() => ops.concat([])).toThrow(/concat: needs at least one tensor/);
});

test('where/maskedFill: incompatible shapes are an error naming the op and the shapes', () => {
  const x = randomTensor([2, 3], 1);
  expect(() => ops.where(tensor([1, 0], { dtype: 'int32' }), x, x)).toThrow(/where: shapes \[2\] and \[2, 3\] and \[2, 3\] cannot be broadcast together/);
  expect(() => ops.where(tensor([1, 0, 1], { dtype: 'int32' }), x, randomTensor([4, 1], 2))).toThrow(/where: shapes \[3\] and \[2, 3\] and \[4, 1\]/);
  expect(() => ops.maskedFill(x, tensor([1, 0], { dtype: 'int32' }), 0)).toThrow(/maskedFill: shapes \[2, 3\] and \[2\] cannot be broadcast together/);
});

test('where/maskedFill: integer values are an error naming the op and the dtype', () => {
  const ids = tensor([1, 2, 3], { dtype: 'int32' });
  const mask = tensor([1, 0, 1], { dtype: 'int32' });
  expect(() => ops.where(mask, ids, randomTensor([3], 1))).toThrow(/where: expected a float32 tensor, got int32 of shape \[3\]/);
  expect(() => ops.where(mask, randomTensor([3], 1), ids)).toThrow(/where: expected a float32 tensor, got int32/);
  expect(() => ops.maskedFill(ids, mask, 0)).toThrow(/maskedFill: expected a float32 tensor, got int32 of shape \[3\]/);
});

test('a condition or mask that requires a gradient is an error naming the op, never a silent zero', () => {
  const condition = tensor([1, 0, 1]).requireGrad();
  const a = randomTensor([3], 1).requireGrad();
  expect(() => ops.sum(ops.where(condition, a, randomTensor([3], 2))).backward()).toThrow(GradientError);
  expect(() => ops.sum(ops.where(condition, a, randomTensor([3], 2))).backward()).toThrow(/where: no gradient rule for input 0/);
  expect(() => ops.sum(ops.maskedFill(a, condition, 0)).backward()).toThrow(/maskedFill: no gradient rule for input 1/);
});
