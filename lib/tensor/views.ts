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
  if (nd.shape.length === 0 || nd.size === 0) {
    if (nd.size === 1) out[0] = nd.data[nd.offset];
    return out;
  }
  forEachRow(nd, (start, written, inner, innerStride) => {
    if (innerStride === 1 && inner >= BLOCK_COPY_MIN) out.set(nd.data.subarray(start, start + inner), written); // one block copy
    else for (let j = 0, s = start; j < inner; j++, s += innerStride) out[written + j] = nd.data[s];
  });
  return out;
}

/** Writes row-major `values` into the positions of the strided view `target`. */
export function writeStrided(target: NdArray<TypedData>, values: TypedData): void {
  if (target.shape.length === 0) {
    if (values.length === 1) target.data[target.offset] = values[0];
    return;
  }
  if (values.length === 0) return;
  forEachRow(target, (start, written, inner, innerStride) => {
    if (innerStride === 1 && inner >= BLOCK_COPY_MIN) target.data.set(values.subarray(written, written + inner), start);
    else for (let j = 0, t = start; j < inner; j++, t += innerStride) target.data[t] = values[written + j];
  });
}

/** Contiguous rows at least this long are copied with TypedArray.set (a memcpy); shorter ones element by element. */
const BLOCK_COPY_MIN = 32;

/**
 * Calls row(start, written, inner, innerStride) for every row along the last
 * axis of a strided view (rank >= 1, not empty), in row-major order: `start`
 * is the row's first position in the data, `written` how many elements the
 * rows before it hold. An odometer over the outer axes keeps `start` current.
 */
function forEachRow(nd: NdArray<TypedData>, row: (start: number, written: number, inner: number, innerStride: number) => void): void {
  const { shape, stride } = nd;
  const rank = shape.length;
  const inner = shape[rank - 1];
  const innerStride = stride[rank - 1];
  const index = new Array<number>(rank - 1).fill(0);
  let start = nd.offset;
  for (let written = 0; written < nd.size; written += inner) {
    row(start, written, inner, innerStride);
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      start += stride[axis];
      if (index[axis] < shape[axis]) break;
      start -= stride[axis] * shape[axis];
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
