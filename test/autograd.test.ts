// The tape: topological order, accumulation, broadcast gradients reduced to
// the input's shape, noGrad, detach, zeroGrad, freed graphs, missing rules.

import { describe, expect, test } from 'vitest';
import { arange, ones, tensor, zeros } from '../lib/tensor/creation.ts';
import { GradientError, isGradEnabled, noGrad } from '../lib/autograd/tape.ts';
import * as ops from '../lib/ops/index.ts';

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

  test('integer inputs (ids, targets) take no gradient and need none', () => {
    const weight = ones([5, 3]).requireGrad();
    const out = ops.embedding(tensor([1, 1, 4], { dtype: 'int32' }), weight);
    ops.sum(out).backward();
    expect(weight.grad!.toArray()).toEqual([[0, 0, 0], [2, 2, 2], [0, 0, 0], [0, 0, 0], [1, 1, 1]]);
  });
});
