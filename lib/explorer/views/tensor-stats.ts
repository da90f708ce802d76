// The numbers a tensor panel shows: summary statistics, a histogram and a 2-D
// slice for the heat map. Plain arrays in, plain numbers out (no DOM).

export interface TensorSummary {
  min: number;
  max: number;
  mean: number;
  /** The Frobenius norm, sqrt(sum x^2). */
  norm: number;
  /** Elements that are NaN or infinite (left out of the other numbers). */
  nonFinite: number;
}

export function summarize(values: ArrayLike<number>): TensorSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let squares = 0;
  let finite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    finite++;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    squares += v * v;
  }
  return { min, max, mean: finite === 0 ? NaN : sum / finite, norm: Math.sqrt(squares), nonFinite: values.length - finite };
}

export interface Histogram {
  /** The lower edge of the first bin and the upper edge of the last. */
  low: number;
  high: number;
  counts: number[];
}

/** `bins` equal bins over the finite values' range (one bin when they are all equal). */
export function histogram(values: ArrayLike<number>, bins: number, range?: { low: number; high: number }): Histogram {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`histogram: bins must be a positive integer, got ${bins}`);
  const { min, max } = summarize(values);
  const low = range?.low ?? min;
  const high = range?.high ?? max;
  const counts = new Array<number>(bins).fill(0);
  if (!(high >= low)) return { low: 0, high: 0, counts }; // nothing finite
  const width = high - low;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || v < low || v > high) continue;
    const bin = width === 0 ? 0 : Math.min(bins - 1, Math.floor(((v - low) / width) * bins));
    counts[bin]++;
  }
  return { low, high, counts };
}

export interface Slice2D {
  rows: number;
  cols: number;
  /** rows * cols values, row-major. */
  values: Float64Array;
}

/**
 * The 2-D slice of a row-major tensor of `shape` at `leading` (one index per
 * axis before the last two): `[B, heads, T, S]` at [0, h] gives head h's
 * T x S matrix. A 1-D tensor is one row.
 */
export function slice2D(data: ArrayLike<number>, shape: readonly number[], leading: readonly number[]): Slice2D {
  if (shape.length === 0) return { rows: 1, cols: 1, values: Float64Array.of(data[0]) };
  if (shape.length === 1) return { rows: 1, cols: shape[0], values: Float64Array.from(data) };
  const rows = shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const outer = shape.slice(0, -2);
  if (leading.length !== outer.length || leading.some((index, axis) => !Number.isInteger(index) || index < 0 || index >= outer[axis])) {
    throw new RangeError(`slice2D: leading indices [${leading.join(', ')}] do not fit the axes [${outer.join(', ')}] before the last two of [${shape.join(', ')}]`);
  }
  let offset = 0;
  for (let axis = 0; axis < outer.length; axis++) offset = offset * outer[axis] + leading[axis];
  offset *= rows * cols;
  return { rows, cols, values: Float64Array.from({ length: rows * cols }, (_, i) => data[offset + i]) };
}
