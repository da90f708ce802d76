// Softmax along the rows of a contiguous [rows, length] array (the last axis),
//   y = exp((x - m) - log(sum(exp(x - m)))),  m = max(row),
// each term rounded on its own scale (lib/ops/softmax.ts explains why). On the
// SIMD path (kernels/simd.ts) one fused pass computes m and the sum and a
// second writes y; otherwise four GPU.js launches: max, subtract, log-sum-exp
// of the shifted row, exp of the difference.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { recordLaunch } from './launch.ts';
import { runReduction } from './reduce.ts';
import { runElementwise } from './elementwise.ts';
import { useSimdKernels } from './simd.ts';
import { simdSoftmaxRows } from './wasm/vector-math.ts';

export function runSoftmaxRows(data: TypedData, rows: number, length: number): Float32Array {
  if (useSimdKernels()) {
    const started = performance.now();
    const out = simdSoftmaxRows(data, rows, length);
    recordLaunch('softmax.rows', 'wasm-simd', performance.now() - started);
    return out;
  }
  // a row value against its row's statistic: a follows both axes, b only the rows
  const perRow = { output: [length, rows, 1] as [number, number, number], follows: [[true, true, false], [false, true, false]] as [boolean, boolean, boolean][] };
  const shifted = runElementwise('sub', perRow, [data, runReduction('max', data, rows, length, 1)]);
  const lse = runReduction('logSumExp', shifted, rows, length, 1);
  return runElementwise('expSub', perRow, [shifted, lse]);
}
