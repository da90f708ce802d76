// The row statistic of RMSNorm: invRms[r] = 1 / sqrt(mean(x[r]^2) + eps), the
// squares summed in the cascade order of sum-order.ts. It is a reduction along
// the last axis (reduce.ts), written once for both compute paths; the scaling
// x * invRms * (1 + w) is the element-wise 'rmsScale' formula.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { defineReduction } from './reduce.ts';
import { cascadeStatements } from './sum-order.ts';

const inverseRms = defineReduction('rmsNorm.inverseRms', {
  body: `${cascadeStatements({ length: 'length', term: 'f32(x(i) * x(i))' })}
  return f32(1 / f32(Math.sqrt(f32(f32(sum / length) + eps))));`,
  scalars: ['eps'],
});

/** invRms of each row of contiguous x [rows, hidden]. */
export function runInverseRms(x: TypedData, rows: number, hidden: number, eps: number): Float32Array {
  return inverseRms(x, rows, hidden, 1, eps);
}
