// concat(tensors, axis): joins tensors that agree on every other axis. More
// than two inputs are joined left to right, one pair per kernel launch. The
// gradient (gradients.ts) hands each input its slice of the output gradient.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, normalizeAxis, splitAroundAxis } from '../tensor/shape.ts';
import { record } from './record.ts';
import { runConcatPair } from '../../kernels/concat.ts';
import { contiguous } from './views.ts';
import { bfloat16Refused } from './check.ts';

function concatPair(a: Tensor, b: Tensor, axis: number): Tensor {
  const [outer, lengthA, inner] = splitAroundAxis(a.shape, axis);
  const lengthB = b.shape[axis];
  const shape = a.shape;
  shape[axis] = lengthA + lengthB;
  if (lengthA === 0) return contiguous(b).detach();
  if (lengthB === 0) return contiguous(a).detach();
  if (outer * inner === 0) return Tensor.fromData(new Float32Array(0), shape);
  const data = runConcatPair(a.contiguousData(), b.contiguousData(), outer, lengthA, lengthB, inner);
  return Tensor.fromData(data, shape);
}

/** Integer tensors (ids, masks) are joined on the host: a float32 kernel would round ids above 2^24. */
function concatIntegers(tensors: Tensor[], axis: number): Tensor {
  const shape = tensors[0].shape;
  shape[axis] = tensors.reduce((total, t) => total + t.shape[axis], 0);
  const [outer, length, inner] = splitAroundAxis(shape, axis);
  const out = new Int32Array(outer * length * inner);
  let offset = 0;
  for (const t of tensors) {
    const data = t.contiguousData();
    const block = t.shape[axis] * inner;
    for (let o = 0; o < outer; o++) out.set(data.subarray(o * block, (o + 1) * block), o * length * inner + offset);
    offset += block;
  }
  return Tensor.fromData(out, shape);
}

export function concat(tensors: Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = tensors[0];
  const a = normalizeAxis('concat', axis, first.rank);
  for (const t of tensors) if (t.dtype === 'bfloat16') throw bfloat16Refused('concat', t);
  for (const t of tensors) {
    const agrees = t.rank === first.rank && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!agrees) {
      throw new ShapeError(`concat: shapes ${tensors.map((x) => formatShape(x.shape)).join(', ')} differ outside axis ${axis}`);
    }
    if (t.dtype !== first.dtype) {
      throw new ShapeError(`concat: cannot join ${first.dtype} and ${t.dtype} tensors`);
    }
  }
  if (first.dtype === 'int32') return concatIntegers(tensors, a);
  let out = tensors[0].detach();
  for (const t of tensors.slice(1)) out = concatPair(out, t, a);
  return record(out, 'concat', tensors, { axis: a });
}
