// The row statistic of RMSNorm: invRms[r] = 1 / sqrt(mean(x[r]^2) + eps), the
// squares summed in the cascade order of sum-order.ts.
// x is contiguous [rows, H], box [H, rows]; one thread per row. The scaling
// x * invRms * (1 + w) is the element-wise 'rmsScale' formula. On the CPU
// path (kernels/simd.ts) the same float32 steps run as a host loop.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch, recordLaunch } from './launch.ts';
import { useSimdKernels } from './simd.ts';
import { cascadeKernel, cascadeSum } from './sum-order.ts';

const rmsNormInverseRms = cascadeKernel({
  params: 'X, eps',
  length: 'this.constants.hidden',
  term: 'X[this.thread.x][i] * X[this.thread.x][i]',
  finish: 'return 1 / Math.sqrt(sum / this.constants.hidden + eps);',
});

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
  for (let r = 0; r < rows; r++) {
    const squares = cascadeSum(x, r * hidden, hidden, 1, x);
    out[r] = f(1 / f(Math.sqrt(f(f(squares / hiddenF) + epsF))));
  }
  recordLaunch('rmsNorm.inverseRms', 'host-loop', performance.now() - started);
  return out;
}
