// Views and copies: no arithmetic, only which element lands where. Each
// builds its result element by element from the input's multi-index, the
// plain way (the tensor library moves strides instead).

import { type RefTensor, broadcastRead, size, strides, unravel } from './tensor.ts';

/** The same row-major values in a new shape; one entry may be -1 (inferred). */
export function reshape(x: RefTensor, shape: number[]): RefTensor {
  const known = shape.filter((d) => d !== -1).reduce((n, d) => n * d, 1);
  const target = shape.map((d) => (d === -1 ? x.data.length / known : d));
  if (size(target) !== x.data.length) throw new Error(`reshape: [${x.shape}] into [${shape}]`);
  return { shape: target, data: x.data.slice() };
}

/** out[i_0, ..., i_n] = x at the index whose axis order[k] is i_k. */
export function permute(x: RefTensor, order: number[]): RefTensor {
  const rank = x.shape.length;
  const axes = order.map((a) => (a < 0 ? a + rank : a));
  const shape = axes.map((a) => x.shape[a]);
  const xStrides = strides(x.shape);
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    let source = 0;
    axes.forEach((a, k) => (source += index[k] * xStrides[a]));
    data[i] = x.data[source];
  }
  return { shape, data };
}

export function transpose(x: RefTensor, axis0: number, axis1: number): RefTensor {
  const rank = x.shape.length;
  const order = Array.from({ length: rank }, (_, i) => i);
  const a = axis0 < 0 ? axis0 + rank : axis0;
  const b = axis1 < 0 ? axis1 + rank : axis1;
  [order[a], order[b]] = [order[b], order[a]];
  return permute(x, order);
}

/** The elements at start, start+step, ... below end along `axis` (Python slice semantics, step >= 1). */
export function slice(x: RefTensor, axis: number, start: number, end?: number, step = 1): RefTensor {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const n = x.shape[a];
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const picked: number[] = [];
  for (let i = clamp(start); i < clamp(end ?? n); i += step) picked.push(i);
  return select(x, a, picked);
}

/** `length` elements from `start` along `axis`. */
export function narrow(x: RefTensor, axis: number, start: number, length: number): RefTensor {
  const a = axis < 0 ? axis + x.shape.length : axis;
  return select(x, a, Array.from({ length }, (_, i) => start + i));
}

/** The positions `picked` along `axis`, in that order. */
function select(x: RefTensor, axis: number, picked: number[]): RefTensor {
  const shape = x.shape.slice();
  shape[axis] = picked.length;
  const xStrides = strides(x.shape);
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    index[axis] = picked[index[axis]];
    data[i] = x.data[index.reduce((flat, v, k) => flat + v * xStrides[k], 0)];
  }
  return { shape, data };
}

/** x broadcast to `shape` (size-1 axes repeated, new leading axes; -1 keeps an axis). */
export function expand(x: RefTensor, shape: number[]): RefTensor {
  const lead = shape.length - x.shape.length;
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - lead] : d));
  const data = new Float64Array(size(target));
  for (let i = 0; i < data.length; i++) data[i] = broadcastRead(x, unravel(i, target));
  return { shape: target, data };
}

export function unsqueeze(x: RefTensor, axis: number): RefTensor {
  const a = axis < 0 ? axis + x.shape.length + 1 : axis;
  const shape = x.shape.slice();
  shape.splice(a, 0, 1);
  return { shape, data: x.data.slice() };
}

export function squeeze(x: RefTensor, axis: number): RefTensor {
  const a = axis < 0 ? axis + x.shape.length : axis;
  if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${axis} of [${x.shape}]`);
  const shape = x.shape.slice();
  shape.splice(a, 1);
  return { shape, data: x.data.slice() };
}

/** A row-major copy: the same values (a reference tensor is always row-major). */
export function contiguous(x: RefTensor): RefTensor {
  return { shape: x.shape.slice(), data: x.data.slice() };
}

/** What `target` holds after copying `source` into it: source's values, target's shape. */
export function copyFrom(target: RefTensor, source: RefTensor): RefTensor {
  if (source.shape.join(',') !== target.shape.join(',')) throw new Error(`copyFrom: [${source.shape}] into [${target.shape}]`);
  return { shape: target.shape.slice(), data: source.data.slice() };
}
