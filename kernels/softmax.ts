// Softmax along the rows of a contiguous [rows, length] array (the last axis),
//   y = exp((x - m) - log(sum(exp(x - m)))),  m = max(row),
// each term rounded on its own scale (lib/ops/softmax.ts explains why). With
// GPU.js, four launches: max, subtract, log-sum-exp of the shifted row, exp of
// the difference. On the CPU path one fused SIMD pass computes m and the sum
// and a second writes y.
//
// The backward, dx = y (g - sum(g y)) along the row: with GPU.js four launches
// (multiply, the cascade sum of sum-order.ts, subtract, multiply); on the CPU
// path one host loop with the float32 steps of those four, so the same bits.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { runReduction } from './reduce.ts';
import { runElementwise, type BroadcastLayout } from './elementwise.ts';
import { defineKernel } from './registry.ts';
import { simdSoftmaxRows } from './wasm/vector-math.ts';
import { cascadeSum } from './sum-order.ts';

/** A row value against its row's statistic: operand a follows both axes, b only the rows. */
const perRow = (rows: number, length: number): BroadcastLayout => ({ output: [length, rows, 1], follows: [[true, true, false], [false, true, false]] });
/** Two operands of the same shape, read flat. */
const flat = (size: number): BroadcastLayout => ({ output: [size, 1, 1], follows: [[true, false, false], [true, false, false]] });

const softmaxRows = defineKernel({
  name: 'softmax.rows',
  gpujs: (data: TypedData, rows: number, length: number) => {
    const shifted = runElementwise('sub', perRow(rows, length), [data, runReduction('max', data, rows, length, 1)]);
    const lse = runReduction('logSumExp', shifted, rows, length, 1);
    return runElementwise('expSub', perRow(rows, length), [shifted, lse]);
  },
  cpu: { kind: 'wasm-simd', run: simdSoftmaxRows },
  agreement: { tolerance: 'softmax', why: 'the SIMD kernel computes exp as a polynomial (about 1-2 ulp)' },
});

/** Softmax of each row of contiguous [rows, length] data. */
export function runSoftmaxRows(data: TypedData, rows: number, length: number): Float32Array {
  return softmaxRows(data, rows, length);
}

const softmaxBackwardRows = defineKernel({
  name: 'softmax.backwardRows',
  gpujs: (y: TypedData, g: TypedData, rows: number, length: number) => {
    const dot = runReduction('sum', runElementwise('mul', flat(rows * length), [g, y]), rows, length, 1);
    return runElementwise('mul', flat(rows * length), [y, runElementwise('sub', perRow(rows, length), [g, dot])]);
  },
  cpu: {
    kind: 'host-loop',
    run: (y: TypedData, g: TypedData, rows: number, length: number) => {
      const f = Math.fround;
      const dx = new Float32Array(rows * length);
      for (let r = 0; r < rows; r++) {
        const start = r * length;
        const dot = cascadeSum(g, start, length, 1, y);
        for (let i = start; i < start + length; i++) dx[i] = f(y[i] * f(g[i] - dot));
      }
      return dx;
    },
  },
  agreement: 'same-bits',
});

/** dx = y (g - sum(g y)) along the rows of contiguous [rows, length] arrays y (the softmax) and g. */
export function runSoftmaxBackwardRows(y: TypedData, g: TypedData, rows: number, length: number): Float32Array {
  return softmaxBackwardRows(y, g, rows, length);
}
