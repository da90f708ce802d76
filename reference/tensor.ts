// The reference: every op as plain, obvious loops in float64. No kernels, no
// views, no cleverness; these are the oracle the kernels are tested against,
// and the easiest place to read what an op computes.
//
// A reference tensor is a shape and row-major float64 data.

export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

export function refTensor(shape: number[], data: ArrayLike<number>): RefTensor {
  const size = shape.reduce((n, d) => n * d, 1);
  if (data.length !== size) throw new Error(`refTensor: ${data.length} values for shape [${shape}]`);
  return { shape: shape.slice(), data: Float64Array.from(data) };
}

export function size(shape: number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Row-major strides. */
export function strides(shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = step;
    step *= shape[i];
  }
  return out;
}

/** The multi-index of flat position `flat` in `shape`. */
export function unravel(flat: number, shape: number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    index[i] = flat % shape[i];
    flat = Math.floor(flat / shape[i]);
  }
  return index;
}

/** numpy broadcasting of two shapes. */
export function broadcastShape(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`broadcast: [${a}] and [${b}]`);
    out.push(Math.max(da, db) === 1 ? Math.min(da, db) : Math.max(da, db));
  }
  return out;
}

/** The value of `t` at output index `index` when `t` is broadcast to a larger shape. */
export function broadcastRead(t: RefTensor, index: number[]): number {
  const offset = index.length - t.shape.length;
  let flat = 0;
  for (let i = 0; i < t.shape.length; i++) {
    flat = flat * t.shape[i] + (t.shape[i] === 1 ? 0 : index[offset + i]);
  }
  return t.data[flat];
}
