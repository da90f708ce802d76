// The comparison rule of golden/FORMAT.md: a tensor passes when
//   max |actual - expected| <= atol + rtol * max |expected|
// over the compared elements; with an attention mask, only positions whose
// mask is 1 are compared (values at padding are not meaningful).

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

/**
 * Compares flat values; `positionMask` (length B*T, 1 = compare) applies
 * when the tensor's leading axes are the mask's [B, T].
 */
export function compareTensor(
  name: string,
  actual: { shape: number[]; data: ArrayLike<number> },
  expected: { shape: number[]; data: ArrayLike<number> },
  tolerance: Tolerance,
  positionMask?: { shape: number[]; data: ArrayLike<number> },
): Comparison {
  if (actual.shape.join(',') !== expected.shape.join(',')) {
    return { tensor: name, maxError: Infinity, bound: 0, pass: false, note: `shape [${actual.shape}] != expected [${expected.shape}]` };
  }
  const masked =
    positionMask !== undefined && positionMask.shape.length === 2 && positionMask.shape.every((d, i) => d === expected.shape[i]);
  const perPosition = masked ? expected.data.length / positionMask.data.length : 1;
  let maxError = 0;
  let maxExpected = 0;
  let nonFinite = false;
  for (let i = 0; i < expected.data.length; i++) {
    if (masked && positionMask.data[Math.floor(i / perPosition)] === 0) continue;
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
