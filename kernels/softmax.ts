// Softmax along the rows of a contiguous [rows, length] array (the last axis),
//   y = exp((x - m) - log(sum(exp(x - m)))),  m = max(row),
// each term rounded on its own scale (lib/ops/softmax.ts explains why). On the
// SIMD path (kernels/simd.ts) one fused pass computes m and the sum and a
// second writes y; otherwise four GPU.js launches: max, subtract, log-sum-exp
// of the shifted row, exp of the difference.
//
// The backward, dx = y (g - sum(g y)) along the row, is one host loop on the
// CPU path with the float32 steps of the four launches it replaces (multiply,
// the cascade sum of sum-order.ts, subtract, multiply), so the same bits.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { recordLaunch } from './launch.ts';
import { runReduction } from './reduce.ts';
import { runElementwise } from './elementwise.ts';
import { useSimdKernels } from './simd.ts';
import { simdSoftmaxRows } from './wasm/vector-math.ts';
import { cascadeSum } from './sum-order.ts';
import type { BroadcastLayout } from './elementwise.ts';

/** A row value against its row's statistic: operand a follows both axes, b only the rows. */
const perRow = (rows: number, length: number): BroadcastLayout => ({ output: [length, rows, 1], follows: [[true, true, false], [false, true, false]] });
/** Two operands of the same shape, read flat. */
const flat = (size: number): BroadcastLayout => ({ output: [size, 1, 1], follows: [[true, false, false], [true, false, false]] });

export function runSoftmaxRows(data: TypedData, rows: number, length: number): Float32Array {
  if (useSimdKernels()) {
    const started = performance.now();
    const out = simdSoftmaxRows(data, rows, length);
    recordLaunch('softmax.rows', 'wasm-simd', performance.now() - started);
    return out;
  }
  const shifted = runElementwise('sub', perRow(rows, length), [data, runReduction('max', data, rows, length, 1)]);
  const lse = runReduction('logSumExp', shifted, rows, length, 1);
  return runElementwise('expSub', perRow(rows, length), [shifted, lse]);
}

/** dx = y (g - sum(g y)) along the rows of contiguous [rows, length] arrays y (the softmax) and g. */
export function runSoftmaxBackwardRows(y: TypedData, g: TypedData, rows: number, length: number): Float32Array {
  if (!useSimdKernels()) {
    const dot = runReduction('sum', runElementwise('mul', flat(rows * length), [g, y]), rows, length, 1);
    return runElementwise('mul', flat(rows * length), [y, runElementwise('sub', perRow(rows, length), [g, dot])]);
  }
  const started = performance.now();
  const f = Math.fround;
  const dx = new Float32Array(rows * length);
  for (let r = 0; r < rows; r++) {
    const start = r * length;
    const dot = cascadeSum(g, start, length, 1, y);
    for (let i = start; i < start + length; i++) dx[i] = f(y[i] * f(g[i] - dot));
  }
  recordLaunch('softmax.backwardRows', 'host-loop', performance.now() - started);
  return dx;
}
