// The Tensor itself: creation, views without copies, reading values out, and
// the errors for bad shapes and arguments.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../lib/tensor/tensor.ts';
import { arange, full, ones, randint, randn, tensor, uniform, zeros } from '../lib/tensor/creation.ts';
import { Generator, manualSeed } from '../lib/tensor/random.ts';
import * as ops from '../lib/ops/index.ts';
import { noGrad } from '../lib/autograd/tape.ts';
import { randomTensor, seedArb, shapeArb } from './helpers.ts';

describe('creation', () => {
  test('zeros, ones, full, arange', () => {
    expect(zeros([2, 2]).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(ones([3]).toArray()).toEqual([1, 1, 1]);
    expect(full([2], 7, { dtype: 'int32' }).dtype).toBe('int32');
    expect(arange(4).toArray()).toEqual([0, 1, 2, 3]);
    expect(arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(arange(5, 0, -2, { dtype: 'int32' }).toArray()).toEqual([5, 3, 1]);
    expect(() => arange(0, 1, 0)).toThrow(/arange: step must not be 0/);
    expect(() => zeros([2, -1])).toThrow(/full: invalid shape \[2, -1\]/);
  });

  test('from nested arrays and typed arrays', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(tensor(3.5).shape).toEqual([]);
    expect(tensor(3.5).item()).toBe(3.5);
    const data = new Float32Array([1, 2, 3, 4]);
    const shared = tensor(data, { shape: [2, 2] });
    data[3] = 9; // a matching typed array is used without a copy
    expect(shared.toArray()).toEqual([[1, 2], [3, 9]]);
    expect(tensor(new Int32Array([5, 6])).dtype).toBe('int32');
    expect(tensor([1, 2], { dtype: 'int32' }).contiguousData()).toBeInstanceOf(Int32Array);
  });

  test('bad nested arrays and values are errors that say where', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/tensor: ragged nested array: value\[1\] has shape \[1\], value\[0\] has \[2\]/);
    expect(() => tensor([1.5, 2], { dtype: 'int32' })).toThrow(/int32 tensor cannot hold 1.5 \(flat position 0\)/);
    expect(() => tensor(new Float32Array(5), { shape: [2, 2] })).toThrow(/5 values cannot fill shape \[2, 2\]/);
  });

  test('random tensors are reproducible from a seed and have the right distribution', () => {
    expect(randn([5], { seed: 42 }).toArray()).toEqual(randn([5], { seed: 42 }).toArray());
    expect(randn([5], { seed: 42 }).toArray()).not.toEqual(randn([5], { seed: 43 }).toArray());
    manualSeed(3);
    const first = randn([4]).toArray();
    manualSeed(3);
    expect(randn([4]).toArray()).toEqual(first);
    const samples = Array.from(randn([20000], { seed: 1 }).contiguousData());
    const mean = samples.reduce((s, v) => s + v, 0) / samples.length;
    const variance = samples.reduce((s, v) => s + (v - mean) ** 2, 0) / samples.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const u = Array.from(uniform([10000], -3, 5, { seed: 2 }).contiguousData());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-3);
    expect(Math.max(...u)).toBeLessThan(5);
    const ints = randint([1000], 2, 6, { generator: new Generator(9) }).contiguousData();
    expect(new Set(ints)).toEqual(new Set([2, 3, 4, 5]));
  });
});

describe('views share storage', () => {
  test('reshape of a contiguous tensor is a view; of a strided one, a copy', () => {
    const x = arange(6);
    const r = x.reshape([2, 3]);
    expect(r.nd.data).toBe(x.nd.data);
    expect(r.reshape([3, -1]).shape).toEqual([3, 2]);
    const t = r.transpose(0, 1);
    expect(t.nd.data).toBe(x.nd.data);
    expect(t.isContiguous()).toBe(false);
    expect(t.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    const flat = t.reshape([6]);
    expect(flat.nd.data).not.toBe(x.nd.data);
    expect(flat.toArray()).toEqual([0, 3, 1, 4, 2, 5]);
  });

  test('permute, narrow, slice, expand, squeeze, unsqueeze', () => {
    const x = arange(24).reshape([2, 3, 4]);
    expect(x.permute([2, 0, 1]).shape).toEqual([4, 2, 3]);
    expect(x.permute([2, 0, 1]).contiguous().toArray()).toEqual(
      [0, 1, 2, 3].map((k) => [0, 1].map((i) => [0, 1, 2].map((j) => i * 12 + j * 4 + k))),
    );
    expect(x.narrow(2, 1, 2).toArray()).toEqual([0, 1].map((i) => [0, 1, 2].map((j) => [1, 2].map((k) => i * 12 + j * 4 + k))));
    expect(x.slice(-1, 0, undefined, 3).toArray()).toEqual([0, 1].map((i) => [0, 1, 2].map((j) => [0, 3].map((k) => i * 12 + j * 4 + k))));
    expect(x.slice(1, -2).shape).toEqual([2, 2, 4]);
    const column = tensor([[1], [2]]);
    const wide = column.expand([3, 2, 4]);
    expect(wide.strides).toEqual([0, 1, 0]);
    expect(wide.toArray()).toEqual([0, 1, 2].map(() => [[1, 1, 1, 1], [2, 2, 2, 2]]));
    expect(column.squeeze(1).shape).toEqual([2]);
    expect(column.unsqueeze(0).shape).toEqual([1, 2, 1]);
  });

  test('a view of a view reads the right elements (random permutations and slices)', () => {
    fc.assert(
      fc.property(shapeArb(2, 4, 5), seedArb, (shape, seed) => {
        const x = randomTensor(shape, seed);
        const order = shape.map((_, i) => i).reverse();
        const viewed = x.permute(order).slice(0, 0, undefined, 2);
        const copy = x.permute(order).contiguous().slice(0, 0, undefined, 2).contiguous();
        expect(viewed.toArray()).toEqual(copy.toArray());
      }),
      { numRuns: 50 },
    );
  });

  test('view errors name the view and the shapes', () => {
    const x = zeros([2, 3]);
    expect(() => x.reshape([4, 2])).toThrow(/reshape: cannot reshape \[2, 3\] \(6 elements\) into \[4, 2\]/);
    expect(() => x.reshape([-1, -1])).toThrow(/reshape: only one axis can be -1/);
    expect(() => x.permute([0, 0])).toThrow(/permute: order \[0, 0\] is not a permutation/);
    expect(() => x.narrow(1, 2, 2)).toThrow(/narrow: start 2 and length 2 do not fit axis 1 of size 3/);
    expect(() => x.expand([4, 3])).toThrow(/expand: cannot expand \[2, 3\] to \[4, 3\]/);
    expect(() => x.squeeze(0)).toThrow(/squeeze: axis 0 of \[2, 3\] has size 2/);
    expect(() => x.transpose(0, 2)).toThrow(/transpose: axis 2 is out of range for a tensor of rank 2/);
  });
});

describe('reading values', () => {
  test('item, toArray, toString', () => {
    expect(tensor([[2.5]]).item()).toBe(2.5);
    expect(() => zeros([2]).item()).toThrow(/item: only one-element tensors have an item, this one has shape \[2\]/);
    const text = tensor([[1, -2.5], [3, 4]]).toString();
    expect(text).toBe('tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]], shape=[2, 2], dtype=float32)');
    expect(tensor([1, 2], { dtype: 'int32' }).toString()).toBe('tensor([1, 2], shape=[2], dtype=int32)');
    expect(tensor([1e-7, Infinity, NaN]).toString()).toContain('1.0000e-7,       inf,       nan');
    const big = arange(2000).toString();
    expect(big).toContain('0.0000,    1.0000,    2.0000, ..., 1997.0000, 1998.0000, 1999.0000');
    expect(big.length).toBeLessThan(200);
    expect(ones([2]).requireGrad().toString()).toContain('requiresGrad');
    expect(ops.mul(ones([2]).requireGrad(), 2).toString()).toContain('grad_fn=mulScalar');
  });

  test('fromData checks the length against the shape', () => {
    expect(() => Tensor.fromData(new Float32Array(3), [2, 2])).toThrow(/Tensor.fromData: 3 values cannot fill shape \[2, 2\]/);
  });
});

describe('writing in place', () => {
  test('copyFrom writes through views and refuses a recorded write', () => {
    const x = zeros([2, 3]);
    x.transpose(0, 1).copyFrom(tensor([[1, 2], [3, 4], [5, 6]]));
    expect(x.toArray()).toEqual([[1, 3, 5], [2, 4, 6]]);
    expect(() => x.copyFrom(zeros([3]))).toThrow(/copyFrom: source shape \[3\] does not match \[2, 3\]/);
    const p = zeros([2]).requireGrad();
    expect(() => p.copyFrom(ones([2]))).toThrow(/inside noGrad/);
    noGrad(() => p.copyFrom(ones([2])));
    expect(p.toArray()).toEqual([1, 1]);
  });

  test('copyFrom takes nested arrays (in the target\'s dtype) and bumps the version', () => {
    const x = zeros([2, 2]);
    expect(x.copyFrom([[1, 2], [3, 4]])).toBe(x);
    expect(x.toArray()).toEqual([[1, 2], [3, 4]]);
    expect(x.version).toBe(1);
    const ids = zeros([3], { dtype: 'int32' });
    ids.copyFrom([5, 6, 7]);
    expect(Array.from(ids.contiguousData())).toEqual([5, 6, 7]);
    expect(() => x.copyFrom([1, 2, 3, 4])).toThrow(/copyFrom: source shape \[4\] does not match \[2, 2\]/);
    expect(() => x.copyFrom([[1, 2], [3]])).toThrow(/tensor: ragged nested array/);
    expect(x.version).toBe(1); // a refused write changes nothing
  });
});
