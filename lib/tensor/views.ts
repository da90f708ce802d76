// Views: new shapes and strides over the same data, no copy. Each is
// differentiable: its backward maps the output gradient back to the input's
// shape (reshape back, permute back, pad a slice with zeros, sum an expand).
// contiguous() is the one place a strided view is copied into row-major order;
// it is data movement, done on the host where indices are exact float64.

import ndarray, { type NdArray } from 'ndarray';
import { type TypedData, allocate, dtypeOf } from './dtype.ts';
import { ShapeError, contiguousStrides, formatShape, normalizeAxis, numel } from './shape.ts';
import { Tensor } from './tensor.ts';
import { record } from '../autograd/tape.ts';
import { sumToShape } from '../ops/reduce.ts';

/** Copies a strided ndarray into a fresh row-major typed array. */
export function copyStrided(nd: NdArray<TypedData>): TypedData {
  const out = allocate(dtypeOf(nd.data), nd.size);
  const { shape, stride, offset, data } = nd;
  const rank = shape.length;
  if (rank === 0 || nd.size === 0) {
    if (nd.size === 1) out[0] = data[offset];
    return out;
  }
  const inner = shape[rank - 1];
  const innerStride = stride[rank - 1];
  const index = new Array<number>(rank - 1).fill(0); // odometer over the outer axes
  let source = offset;
  for (let written = 0; written < out.length; written += inner) {
    for (let j = 0, s = source; j < inner; j++, s += innerStride) out[written + j] = data[s];
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      source += stride[axis];
      if (index[axis] < shape[axis]) break;
      source -= stride[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return out;
}

/** Writes row-major `values` into the positions of the strided view `target`. */
export function writeStrided(target: NdArray<TypedData>, values: TypedData): void {
  const rank = target.shape.length;
  const index = new Array<number>(rank).fill(0);
  for (let n = 0; n < values.length; n++) {
    let position = target.offset;
    for (let axis = 0; axis < rank; axis++) position += index[axis] * target.stride[axis];
    target.data[position] = values[n];
    for (let axis = rank - 1; axis >= 0; axis--) {
      if (++index[axis] < target.shape[axis]) break;
      index[axis] = 0;
    }
  }
}

function view(source: Tensor, shape: number[], stride: number[], offset: number): Tensor {
  return new Tensor(ndarray(source.nd.data, shape, stride, offset));
}

export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const out = Tensor.fromData(copyStrided(x.nd), x.shape);
  return record(out, 'contiguous', [x], (g) => [g]);
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
  const source = x.contiguous();
  const out = view(source, target, contiguousStrides(target), source.nd.offset);
  const inputShape = x.shape;
  return record(out, 'reshape', [source], (g) => [reshape(g, inputShape)]);
}

export function permute(x: Tensor, order: number[]): Tensor {
  const rank = x.rank;
  const axes = order.map((a) => normalizeAxis('permute', a, rank));
  if (axes.length !== rank || new Set(axes).size !== rank) {
    throw new ShapeError(`permute: order ${formatShape(order)} is not a permutation of the ${rank} axes of ${formatShape(x.shape)}`);
  }
  const out = view(x, axes.map((a) => x.nd.shape[a]), axes.map((a) => x.nd.stride[a]), x.nd.offset);
  const inverse = new Array<number>(rank);
  axes.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
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
  const out = view(x, shape, stride, offset);
  const inputShape = x.shape;
  return record(out, 'slice', [x], (g) => {
    // d/dx of a slice: the gradient where the slice read, zeros elsewhere.
    const grad = Tensor.fromData(new Float32Array(numel(inputShape)), inputShape);
    writeStrided(slice(grad, a, begin, stop, step).nd, g.contiguousData());
    return [grad];
  });
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
  const out = view(x, target, stride, x.nd.offset);
  const inputShape = x.shape;
  return record(out, 'expand', [x], (g) => [sumToShape(g, inputShape)]);
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
