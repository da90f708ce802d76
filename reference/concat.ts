// Concatenation along one axis.

import { type RefTensor, size } from './tensor.ts';

export function concat(tensors: RefTensor[], axis: number): RefTensor {
  const a = axis < 0 ? axis + tensors[0].shape.length : axis;
  const shape = tensors[0].shape.slice();
  shape[a] = tensors.reduce((n, t) => n + t.shape[a], 0);
  const outer = size(shape.slice(0, a));
  const inner = size(shape.slice(a + 1));
  const data = new Float64Array(size(shape));
  let written = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of tensors) {
      const block = t.shape[a] * inner;
      for (let k = 0; k < block; k++) data[written++] = t.data[o * block + k];
    }
  }
  return { shape, data };
}
