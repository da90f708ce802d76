// Reductions over one axis, with keepDim.

import { type RefTensor, size, unravel } from './tensor.ts';

/** Splits `shape` around `axis`: [outer, length, inner]. */
function around(shape: number[], axis: number): [number, number, number] {
  return [size(shape.slice(0, axis)), shape[axis], size(shape.slice(axis + 1))];
}

export function reduce(x: RefTensor, axis: number, keepDim: boolean, f: (values: number[]) => number): RefTensor {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const [outer, length, inner] = around(x.shape, a);
  const data = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const values: number[] = [];
      for (let k = 0; k < length; k++) values.push(x.data[(o * length + k) * inner + i]);
      data[o * inner + i] = f(values);
    }
  }
  const shape = x.shape.slice();
  if (keepDim) shape[a] = 1;
  else shape.splice(a, 1);
  return { shape, data };
}

export const sum = (x: RefTensor, axis: number, keepDim = false) => reduce(x, axis, keepDim, (v) => v.reduce((s, e) => s + e, 0));
export const mean = (x: RefTensor, axis: number, keepDim = false) => reduce(x, axis, keepDim, (v) => v.reduce((s, e) => s + e, 0) / v.length);

/** Maximum; NaN if any element is NaN. */
export const max = (x: RefTensor, axis: number, keepDim = false) =>
  reduce(x, axis, keepDim, (v) => (v.some(Number.isNaN) ? NaN : Math.max(...v)));

/** Index of the first maximum (of the first NaN, if any). */
export const argmax = (x: RefTensor, axis: number, keepDim = false) =>
  reduce(x, axis, keepDim, (v) => {
    const nan = v.findIndex(Number.isNaN);
    return nan >= 0 ? nan : v.indexOf(Math.max(...v));
  });

/** log(sum(exp(v))), shifted by the maximum so nothing overflows; -inf for all -inf, +inf if any +inf, NaN if any NaN. */
export const logSumExp = (x: RefTensor, axis: number, keepDim = false) =>
  reduce(x, axis, keepDim, (v) => {
    const m = Math.max(...v);
    if (m === -Infinity || m === Infinity) return m;
    return m + Math.log(v.reduce((s, e) => s + Math.exp(e - m), 0));
  });

export function sumAll(x: RefTensor): RefTensor {
  return { shape: [], data: Float64Array.of(x.data.reduce((s, e) => s + e, 0)) };
}

/** g summed over the axes broadcasting added or expanded, so that it has `shape` (a gradient's way back to its input). */
export function sumToShape(g: RefTensor, shape: number[]): RefTensor {
  const data = new Float64Array(size(shape));
  const lead = g.shape.length - shape.length;
  for (let i = 0; i < g.data.length; i++) {
    const index = unravel(i, g.shape);
    let target = 0;
    shape.forEach((d, k) => (target = target * d + (d === 1 ? 0 : index[lead + k])));
    data[target] += g.data[i];
  }
  return { shape: shape.slice(), data };
}
