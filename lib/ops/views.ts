// Views: new shapes and strides over the same data, no copy (Tensor.viewAs:
// a view also shares its source's version counter). Each is an op like any
// other: it records, and its rule in the gradient table maps the output
// gradient back to the input's shape (reshape back, permute back, pad a slice
// with zeros, sum an expand). contiguous() is the one place a strided view is
// copied into row-major order; it is data movement, done on the host where
// indices are exact float64.

import { ShapeError, contiguousStrides, formatShape, normalizeAxis, numel } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { copyStrided } from '../tensor/strided.ts';
import { record } from './record.ts';

export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  return record(Tensor.fromData(copyStrided(x.nd), x.shape), 'contiguous', [x]);
}

/** Same elements in a new shape; one entry may be -1 (inferred). Copies only if x is not contiguous. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const target = shape.slice();
  const inferred = target.indexOf(-1);
  if (inferred !== target.lastIndexOf(-1)) {
    throw new ShapeError(`reshape: only one axis can be -1, got ${formatShape(shape)}`);
  }
  if (inferred >= 0) {
    const known = numel(target.filter((_, i) => i !== inferred));
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`reshape: cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(shape)}`);
    }
    target[inferred] = x.size / known;
  }
  if (target.some((d) => !Number.isInteger(d) || d < 0) || numel(target) !== x.size) {
    throw new ShapeError(`reshape: cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(shape)}`);
  }
  const source = contiguous(x);
  return record(source.viewAs(target, contiguousStrides(target), source.nd.offset), 'reshape', [source]);
}

export function permute(x: Tensor, order: number[]): Tensor {
  const rank = x.rank;
  const axes = order.map((a) => normalizeAxis('permute', a, rank));
  if (axes.length !== rank || new Set(axes).size !== rank) {
    throw new ShapeError(`permute: order ${formatShape(order)} is not a permutation of the ${rank} axes of ${formatShape(x.shape)}`);
  }
  const out = x.viewAs(axes.map((a) => x.nd.shape[a]), axes.map((a) => x.nd.stride[a]), x.nd.offset);
  const inverse = new Array<number>(rank);
  axes.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], { inverse });
}

export function transpose(x: Tensor, axis0: number, axis1: number): Tensor {
  const order = Array.from({ length: x.rank }, (_, i) => i);
  const a = normalizeAxis('transpose', axis0, x.rank);
  const b = normalizeAxis('transpose', axis1, x.rank);
  [order[a], order[b]] = [order[b], order[a]];
  return permute(x, order);
}

/** Elements start, start+step, ... below end along `axis` (Python slice semantics for non-negative steps). */
export function slice(x: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const a = normalizeAxis('slice', axis, x.rank);
  const size = x.nd.shape[a];
  if (!Number.isInteger(step) || step < 1) throw new ShapeError(`slice: step must be a positive integer, got ${step}`);
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
  const begin = clamp(start);
  const stop = Math.max(clamp(end ?? size), begin);
  const length = Math.ceil((stop - begin) / step);
  const shape = x.shape;
  const stride = x.strides;
  shape[a] = length;
  const offset = x.nd.offset + begin * stride[a];
  stride[a] *= step;
  return record(x.viewAs(shape, stride, offset), 'slice', [x], { axis: a, begin, stop, step });
}

/** `length` elements from `start` along `axis` (PyTorch's narrow); errors instead of clamping. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normalizeAxis('narrow', axis, x.rank);
  const size = x.nd.shape[a];
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
    throw new ShapeError(`narrow: start ${start} and length ${length} do not fit axis ${axis} of size ${size} in ${formatShape(x.shape)}`);
  }
  return slice(x, a, start, start + length);
}

/** Broadcasts size-1 axes (and new leading axes) to `shape` with stride 0. */
export function expand(x: Tensor, shape: number[]): Tensor {
  const lead = shape.length - x.rank;
  if (lead < 0) {
    throw new ShapeError(`expand: cannot expand ${formatShape(x.shape)} to fewer dimensions ${formatShape(shape)}`);
  }
  const stride = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < x.rank; i++) {
    const from = x.nd.shape[i];
    const to = shape[lead + i] === -1 ? from : shape[lead + i];
    if (from !== to && from !== 1) {
      throw new ShapeError(`expand: cannot expand ${formatShape(x.shape)} to ${formatShape(shape)} (axis ${i} has size ${from})`);
    }
    stride[lead + i] = from === to ? x.nd.stride[i] : 0;
  }
  const target = shape.map((d, i) => (d === -1 && i >= lead ? x.nd.shape[i - lead] : d));
  return record(x.viewAs(target, stride, x.nd.offset), 'expand', [x]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1);
  const shape = x.shape;
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('squeeze', axis, x.rank);
  if (x.nd.shape[a] !== 1) {
    throw new ShapeError(`squeeze: axis ${axis} of ${formatShape(x.shape)} has size ${x.nd.shape[a]}, not 1`);
  }
  const shape = x.shape;
  shape.splice(a, 1);
  return reshape(x, shape);
}
