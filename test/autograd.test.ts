// The tape: topological order, accumulation, broadcast gradients reduced to
// the input's shape, noGrad, detach, zeroGrad, freed graphs, missing rules,
// and in-place writes to saved tensors (version counters).

import { describe, expect, test } from 'vitest';
import { arange, ones, tensor, zeros } from '../lib/tensor/creation.ts';
import { GradientError, isGradEnabled, noGrad, record } from '../lib/autograd/tape.ts';
import * as ops from '../lib/ops/index.ts';
import { SGD } from '../lib/train/optimizer.ts';

const values = (t: { contiguousData(): ArrayLike<number> }) => Array.from(t.contiguousData());

describe('backward', () => {
  test('a diamond graph sums both paths', () => {
    const x = tensor([2, 3]).requireGrad();
    const a = ops.mul(x, 3);
    const b = ops.mul(x, x);
    ops.sum(ops.add(a, b)).backward(); // d/dx (3x + x^2) = 3 + 2x
    expect(values(x.grad!)).toEqual([7, 9]);
  });

  test('broadcast inputs receive gradients summed back to their shape', () => {
    const row = tensor([[1, 2, 3]]).requireGrad(); // [1, 3]
    const column = tensor([[10], [20]]).requireGrad(); // [2, 1]
    const scalar = tensor(2).requireGrad(); // []
    ops.sum(ops.mul(ops.add(row, column), scalar)).backward();
    expect(row.grad!.shape).toEqual([1, 3]);
    expect(values(row.grad!)).toEqual([4, 4, 4]);
    expect(column.grad!.shape).toEqual([2, 1]);
    expect(values(column.grad!)).toEqual([6, 6]);
    expect(scalar.grad!.shape).toEqual([]);
    expect(scalar.grad!.item()).toBe(102); // sum(row + column) = (1+2+3)*2 + (10+20)*3
  });

  test('leaf gradients accumulate over backward calls until zeroGrad', () => {
    const x = tensor([1, 2]).requireGrad();
    ops.sum(ops.mul(x, 2)).backward();
    ops.sum(ops.mul(x, 2)).backward();
    expect(values(x.grad!)).toEqual([4, 4]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });

  test('views are differentiable: slices pad with zeros, expands sum, permutes invert', () => {
    const x = arange(6).reshape([2, 3]).detach().requireGrad();
    const y = ops.mul(x.slice(1, 1), tensor([[1, 2], [3, 4]]));
    const z = ops.sum(ops.mul(x.transpose(0, 1), 10));
    ops.add(ops.sum(y), z).backward();
    expect(x.grad!.toArray()).toEqual([[10, 11, 12], [10, 13, 14]]);
    const v = tensor([[1], [2]]).requireGrad();
    ops.sum(v.expand([2, 4])).backward();
    expect(values(v.grad!)).toEqual([4, 4]);
  });

  test('a non-scalar root needs an explicit gradient of matching shape', () => {
    const x = ones([2, 2]).requireGrad();
    const y = ops.mul(x, 3);
    expect(() => y.backward()).toThrow(/backward: gradient can be implied only for a scalar, got shape \[2, 2\]/);
    expect(() => y.backward(ones([4]))).toThrow(/backward: gradient shape \[4\] does not match the tensor shape \[2, 2\]/);
    y.backward(tensor([[1, 2], [3, 4]]));
    expect(x.grad!.toArray()).toEqual([[3, 6], [9, 12]]);
  });

  test('the graph is freed after backward unless retainGraph is passed', () => {
    const x = tensor([1, 2]).requireGrad();
    const loss = ops.sum(ops.mul(x, x));
    loss.backward(undefined, { retainGraph: true });
    loss.backward();
    expect(values(x.grad!)).toEqual([4, 8]);
    expect(() => loss.backward()).toThrow(/backward through this graph a second time/);
  });

  test('a deep chain does not overflow the stack', () => {
    const x = tensor([1]).requireGrad();
    let y = x;
    for (let i = 0; i < 20000; i++) y = ops.addScalar(y, 0);
    ops.sum(y).backward();
    expect(values(x.grad!)).toEqual([1]);
  });
});

describe('recording', () => {
  test('noGrad records nothing and restores the previous mode, even after a throw', () => {
    const x = ones([2]).requireGrad();
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return ops.mul(x, 2);
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradNode).toBeNull();
    expect(() =>
      noGrad(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(isGradEnabled()).toBe(true);
  });

  test('detach cuts the tape but shares the data', () => {
    const x = ones([2]).requireGrad();
    const y = ops.mul(x, 2);
    const d = y.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.nd.data).toBe(y.nd.data);
    expect(() => d.backward()).toThrow(GradientError);
  });

  test('only float leaves can require gradients', () => {
    expect(() => tensor([1], { dtype: 'int32' }).requireGrad()).toThrow(/requireGrad: only float32 tensors can require gradients, this one is int32/);
    const y = ops.mul(ones([1]).requireGrad(), 2);
    expect(() => y.requireGrad()).toThrow(/requireGrad: only leaf tensors can be marked/);
  });

  test('an input without a gradient rule is an error naming the op, never a silent zero', () => {
    const x = zeros([1, 1, 2, 4]);
    const cos = ones([1, 2, 4]).requireGrad();
    const out = ops.rope(x, cos, zeros([1, 2, 4]));
    expect(() => ops.sum(out).backward()).toThrow(/rope: no gradient rule for input 1 \(shape \[1, 2, 4\]\)/);
  });

  test('an op name without a rule in the gradient table is an error when it records, even under noGrad', () => {
    const x = ones([2]).requireGrad();
    expect(() => record(ops.mul(x, 1), 'noSuchOp', [x])).toThrow(GradientError);
    expect(() => noGrad(() => record(ones([2]), 'noSuchOp', [x]))).toThrow(/noSuchOp: the op has no rule in the gradient table \(lib\/ops\/gradients.ts\)/);
  });

  test('integer inputs (ids, targets) take no gradient and need none', () => {
    const weight = ones([5, 3]).requireGrad();
    const out = ops.embedding(tensor([1, 1, 4], { dtype: 'int32' }), weight);
    ops.sum(out).backward();
    expect(weight.grad!.toArray()).toEqual([[0, 0, 0], [2, 2, 2], [0, 0, 0], [0, 0, 0], [1, 1, 1]]);
  });
});

describe('in-place writes to saved tensors', () => {
  test("the issue's example: a saved input written before backward is an error naming the op, the input and both versions", () => {
    const w = tensor([1, 2, 3]).requireGrad();
    const x = tensor([4, 5, 6]);
    const l = w.mul(x).sum();
    x.copyFrom([100, 200, 300]);
    expect(() => l.backward()).toThrow(GradientError);
    expect(() => l.backward()).toThrow(
      /mul: input 1 \(shape \[3\]\) was written in place after mul saved it for backward \(version 0 when recorded, 1 now\), so the gradient would use the new values\. Write to it \(copyFrom, an optimizer step\) after backward\(\)/,
    );
    expect(w.grad).toBeNull();
  });

  test('a write after backward is fine, and so is a write to an input the rule does not save (add)', () => {
    const w = tensor([1, 2, 3]).requireGrad();
    const x = tensor([4, 5, 6]);
    const product = w.mul(x).sum();
    product.backward();
    x.copyFrom([100, 200, 300]);
    expect(values(w.grad!)).toEqual([4, 5, 6]);
    w.zeroGrad();
    const total = w.add(x).sum(); // d(w + x)/dw = 1 reads neither input (PyTorch does not complain either)
    x.copyFrom([7, 8, 9]);
    total.backward();
    expect(values(w.grad!)).toEqual([1, 1, 1]);
  });

  test('a saved output written in place is caught too', () => {
    const x = tensor([0, 1]).requireGrad();
    const y = x.exp(); // d exp = exp(x) g: the rule reads the output
    const l = y.sum();
    noGrad(() => y.copyFrom([5, 5]));
    expect(() => l.backward()).toThrow(/exp: its output \(shape \[2\]\) was written in place after exp saved it for backward \(version 0 when recorded, 1 now\)/);
  });

  test('views and detach() share the storage\'s counter: a write through any of them is seen by all', () => {
    const x = zeros([2, 3]);
    const t = x.transpose(0, 1);
    const d = x.detach();
    expect([x.version, t.version, d.version]).toEqual([0, 0, 0]);
    t.narrow(0, 1, 1).copyFrom([[7, 8]]);
    expect([x.version, t.version, d.version]).toEqual([1, 1, 1]);
    d.markModifiedInPlace();
    expect(x.version).toBe(2);
    expect(x.toArray()).toEqual([[0, 7, 0], [0, 8, 0]]);
    expect(zeros([2]).version).toBe(0); // a fresh tensor has its own counter

    const w = ones([3]).requireGrad();
    const base = tensor([1, 2, 3, 4]);
    const l = w.mul(base.narrow(0, 1, 3)).sum(); // saves a view of base
    base.narrow(0, 0, 1).copyFrom([9]); // writes elsewhere in the same storage: PyTorch counts per storage too
    expect(() => l.backward()).toThrow(/mul: input 1 \(shape \[3\]\) was written in place .*\(version 0 when recorded, 1 now\)/);
  });

  test('an optimizer step writes its parameters in place: a graph recorded before the step refuses to run', () => {
    const w = tensor([1, 2]).requireGrad();
    const x = tensor([3, 4]);
    w.mul(x).sum().backward();
    const stale = w.mul(x).sum();
    new SGD([w], { lr: 0.5 }).step();
    expect(w.version).toBe(1);
    expect(values(w)).toEqual([-0.5, 0]);
    expect(() => stale.backward()).toThrow(/mul: input 0 \(shape \[2\]\) was written in place after mul saved it for backward \(version 0 when recorded, 1 now\)/);
  });

  test('a retained graph is checked again on its next backward', () => {
    const w = tensor([2]).requireGrad();
    const x = tensor([3]);
    const l = w.mul(x).sum();
    l.backward(undefined, { retainGraph: true });
    x.copyFrom([4]);
    expect(() => l.backward()).toThrow(/mul: input 1 .*version 0 when recorded, 1 now/);
  });
});
