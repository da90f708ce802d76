// sum, mean, max, argmax and logSumExp over one axis (or all axes), with
// keepDim; sumToShape, which undoes broadcasting for gradients. Their
// gradients are in the gradient table (gradients.ts).

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, normalizeAxis, reducedShape, sameShape, splitAroundAxis } from '../tensor/shape.ts';
import { record } from './record.ts';
import { type Reduction, runReduction } from '../../kernels/reduce.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { mulScalar } from './arithmetic.ts';
import { reshape } from './views.ts';

/** Runs a reduction kernel along `axis` (already normalised), without recording. */
export function reduceAxis(kind: Reduction, x: Tensor, axis: number, keepDim: boolean): Tensor {
  const [outer, length, inner] = splitAroundAxis(x.shape, axis);
  const shape = reducedShape(x.shape, axis, keepDim);
  if (length === 0) {
    // An empty sum is 0 and an empty log-sum-exp -inf (as in PyTorch); an empty max has no value.
    if (kind === 'sum') return Tensor.fromData(new Float32Array(outer * inner), shape);
    if (kind === 'logSumExp') return Tensor.fromData(new Float32Array(outer * inner).fill(-Infinity), shape);
    throw new ShapeError(`${kind}: cannot reduce over axis ${axis} of size 0 in ${formatShape(x.shape)}`);
  }
  if (outer * inner === 0) return Tensor.fromData(new Float32Array(0), shape);
  return Tensor.fromData(runReduction(kind, x.contiguousData(), outer, length, inner), shape);
}

/** A reduction over every axis: rank 0, or with keepDim every axis kept as size 1 (NumPy's keepdims). */
function keepAllDims(out: Tensor, rank: number, keepDim: boolean): Tensor {
  return keepDim ? reshape(out, new Array<number>(rank).fill(1)) : out;
}

export function sum(x: Tensor, axis?: number, keepDim = false): Tensor {
  expectFloat('sum', x);
  if (axis === undefined) return keepAllDims(sumAll(x), x.rank, keepDim);
  const a = normalizeAxis('sum', axis, x.rank);
  return record(reduceAxis('sum', x, a, keepDim), 'sum', [x], { axis: a, keepDim });
}

/** Sum of every element, as a rank-0 tensor: the axes are reduced last to first. */
function sumAll(x: Tensor): Tensor {
  let out = x.rank === 0 ? reshape(x, [1]) : x;
  while (out.rank > 0) out = sum(out, out.rank - 1);
  return out;
}

export function mean(x: Tensor, axis?: number, keepDim = false): Tensor {
  expectFloat('mean', x);
  const count = axis === undefined ? x.size : x.shape[normalizeAxis('mean', axis, x.rank)];
  return mulScalar(sum(x, axis, keepDim), 1 / count);
}

/**
 * Largest value along `axis`. The gradient goes to the first maximum, the
 * element argmax picks (PyTorch's max(dim) does the same).
 */
export function max(x: Tensor, axis?: number, keepDim = false): Tensor {
  expectFloat('max', x);
  if (axis === undefined) return keepAllDims(max(reshape(x, [-1]), 0, false), x.rank, keepDim);
  const a = normalizeAxis('max', axis, x.rank);
  return record(reduceAxis('max', x, a, keepDim), 'max', [x], { axis: a, keepDim });
}

/** Index of the first maximum along `axis`, as int32 (not differentiable). */
export function argmax(x: Tensor, axis: number, keepDim = false): Tensor {
  expectFloat('argmax', x);
  const a = normalizeAxis('argmax', axis, x.rank);
  const indices = reduceAxis('argmax', x, a, keepDim);
  return Tensor.fromData(Int32Array.from(indices.contiguousData()), indices.shape);
}

/** log(sum(exp(x))) along `axis`, computed without overflow. */
export function logSumExp(x: Tensor, axis: number, keepDim = false): Tensor {
  expectFloat('logSumExp', x);
  const a = normalizeAxis('logSumExp', axis, x.rank);
  return record(reduceAxis('logSumExp', x, a, keepDim), 'logSumExp', [x], { axis: a, keepDim });
}

/**
 * [x - m, log(sum(exp(x - m)))] along `axis` (kept as size 1), m = max(x),
 * without recording: the two terms of log_softmax(x), each rounded on its own
 * scale. Forming lse(x) = m + log(...) first and then x - lse(x) would lose
 * |x| * 2^-24 (6e-5 at |x| = 1000) to float32 rounding.
 */
export function shiftedLogSumExp(x: Tensor, axis: number): [Tensor, Tensor] {
  const shifted = elementwise('sub', [x, reduceAxis('max', x, axis, true)]);
  return [shifted, reduceAxis('logSumExp', shifted, axis, true)];
}

/**
 * Sums `g` over the axes that broadcasting expanded, so the result has
 * `shape`: the gradient rule of every broadcasting op.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  let out = g;
  while (out.rank > shape.length) out = sum(out, 0);
  for (let axis = 0; axis < shape.length; axis++) {
    if (shape[axis] === 1 && out.shape[axis] !== 1) out = sum(out, axis, true);
  }
  if (!sameShape(out.shape, shape)) {
    throw new ShapeError(`sumToShape: cannot reduce a gradient of shape ${formatShape(g.shape)} to ${formatShape(shape)}`);
  }
  return out;
}
