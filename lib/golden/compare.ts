// The comparison rule of golden/FORMAT.md: a tensor passes when
//   max |actual - expected| <= atol + rtol * max |expected|
// over the compared elements; with an attention mask, only positions whose
// mask is 1 are compared (values at padding are not meaningful): for a trace
// tensor, on every axis that runs over positions (the queries and the keys).

import type { Tolerance } from '../../kernels/tolerances.ts';

export type { Tolerance };

export interface Comparison {
  tensor: string;
  maxError: number;
  bound: number;
  pass: boolean;
  /** Why the tensor could not be compared (shape mismatch, missing output, NaN). */
  note?: string;
}

/** A case's attention mask, to compare only the elements at real tokens. */
export interface PositionMask {
  /** [B, T]: 1 = a token, 0 = padding. */
  shape: number[];
  data: ArrayLike<number>;
  /**
   * The compared tensor's axes that run over positions (axis 0 is the batch):
   * an element counts only when every one of them is at a token. By default
   * [1], when the tensor's leading axes are the mask's [B, T].
   */
  axes?: number[];
}

/** Which elements of a tensor of `shape` the mask lets through, or null to compare all (the mask does not fit the tensor). */
function comparedElements(shape: number[], mask: PositionMask | undefined): ((i: number) => boolean) | null {
  if (mask === undefined || mask.shape.length !== 2) return null;
  const [B, T] = mask.shape;
  const axes = mask.axes ?? [1];
  if (shape[0] !== B || axes.some((a) => a <= 0 || a >= shape.length || shape[a] !== T)) return null;
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((n, d) => n * d, 1));
  return (i) => {
    const row = Math.floor(i / strides[0]) * T;
    return axes.every((a) => mask.data[row + (Math.floor(i / strides[a]) % T)] !== 0);
  };
}

/** Compares flat values; with `positionMask`, only the elements at real tokens (see PositionMask). */
export function compareTensor(
  name: string,
  actual: { shape: number[]; data: ArrayLike<number> },
  expected: { shape: number[]; data: ArrayLike<number> },
  tolerance: Tolerance,
  positionMask?: PositionMask,
): Comparison {
  if (actual.shape.join(',') !== expected.shape.join(',')) {
    return { tensor: name, maxError: Infinity, bound: 0, pass: false, note: `shape [${actual.shape}] != expected [${expected.shape}]` };
  }
  const compared = comparedElements(expected.shape, positionMask);
  let maxError = 0;
  let maxExpected = 0;
  let nonFinite = false;
  for (let i = 0; i < expected.data.length; i++) {
    if (compared !== null && !compared(i)) continue;
    const a = actual.data[i];
    const e = expected.data[i];
    if (!Number.isFinite(a) || !Number.isFinite(e)) {
      if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) nonFinite = true;
      continue;
    }
    maxError = Math.max(maxError, Math.abs(a - e));
    maxExpected = Math.max(maxExpected, Math.abs(e));
  }
  const bound = tolerance.atol + tolerance.rtol * maxExpected;
  if (nonFinite) return { tensor: name, maxError: Infinity, bound, pass: false, note: 'non-finite value where the expectation differs' };
  return { tensor: name, maxError, bound, pass: maxError <= bound };
}
