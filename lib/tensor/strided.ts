// Copying between a strided view and row-major order: the one place element
// positions are walked through strides. contiguousData() reads with
// copyStrided; in-place writes (copyFrom) and slice gradients write with
// writeStrided. Done on the host, where indices are exact float64.

import type { NdArray } from 'ndarray';
import { type TypedData, allocate, dtypeOf } from './dtype.ts';
import { outputArray } from './arena.ts';

/** Copies a strided ndarray into a fresh row-major typed array. */
export function copyStrided(nd: NdArray<TypedData>): TypedData {
  const dtype = dtypeOf(nd.data);
  const out = dtype === 'float32' ? outputArray(nd.size) : allocate(dtype, nd.size); // every element is written
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
