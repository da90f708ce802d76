// The row statistic of RMSNorm: invRms[r] = 1 / sqrt(mean(x[r]^2) + eps).
// x is contiguous [rows, H], box [H, rows]; one thread per row. The scaling
// x * invRms * (1 + w) is the element-wise 'rmsScale' formula.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch } from './launch.ts';

function rmsNormInverseRms(this: any, X: number[][], eps: number): number {
  let squares = 0;
  for (let i = 0; i < this.constants.hidden; i++) {
    const v = X[this.thread.x][i];
    squares += v * v;
  }
  return 1 / Math.sqrt(squares / this.constants.hidden + eps);
}

export function runInverseRms(x: TypedData, rows: number, hidden: number, eps: number): Float32Array {
  const out = new Float32Array(rows);
  for (let start = 0; start < rows; start += MAX_KERNEL_AXIS) {
    const count = Math.min(MAX_KERNEL_AXIS, rows - start);
    const chunk = x.subarray(start * hidden, (start + count) * hidden) as TypedData;
    out.set(
      launch({
        name: 'rmsNorm.inverseRms',
        source: rmsNormInverseRms,
        output: [count, 1, 1],
        args: [boxed(chunk, [hidden, count, 1]), eps],
        constants: { hidden },
      }),
      start,
    );
  }
  return out;
}
