// The row statistic of RMSNorm: invRms[r] = 1 / sqrt(mean(x[r]^2) + eps), the
// squares summed in the cascade order of sum-order.ts.
// x is contiguous [rows, H], box [H, rows]; one thread per row. The scaling
// x * invRms * (1 + w) is the element-wise 'rmsScale' formula. On the CPU
// path (kernels/simd.ts) the same float32 steps run as a host loop.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch, recordLaunch } from './launch.ts';
import { useSimdKernels } from './simd.ts';
import { CascadeSum } from './sum-order.ts';

function rmsNormInverseRms(this: any, X: number[][], eps: number): number {
  // the sum of squares in the cascade order of sum-order.ts
  let run = 0;
  let group = 0;
  let block = 0;
  let total = 0;
  for (let i = 0; i < this.constants.hidden; i++) {
    const v = X[this.thread.x][i];
    run += v * v;
    if (i % 32 === 31) {
      group += run;
      run = 0;
      if (i % 1024 === 1023) {
        block += group;
        group = 0;
        if (i % 32768 === 32767) {
          total += block;
          block = 0;
        }
      }
    }
  }
  const squares = total + (block + (group + run));
  return 1 / Math.sqrt(squares / this.constants.hidden + eps);
}

export function runInverseRms(x: TypedData, rows: number, hidden: number, eps: number): Float32Array {
  if (useSimdKernels()) return hostInverseRms(x, rows, hidden, eps);
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

/** The kernel's float32 steps, each rounded (Math.fround): the webasm kernel's bits. */
function hostInverseRms(x: TypedData, rows: number, hidden: number, eps: number): Float32Array {
  const started = performance.now();
  const f = Math.fround;
  const [epsF, hiddenF] = [f(eps), f(hidden)];
  const out = new Float32Array(rows);
  const squares = new CascadeSum();
  for (let r = 0; r < rows; r++) {
    squares.reset();
    for (let i = r * hidden; i < (r + 1) * hidden; i++) squares.add(f(x[i] * x[i]));
    out[r] = f(1 / f(Math.sqrt(f(f(squares.result() / hiddenF) + epsF))));
  }
  recordLaunch('rmsNorm.inverseRms', 'host-loop', performance.now() - started);
  return out;
}
