// The cross-entropy gradient, given each row's log-sum-exp:
//   dlogits[i][c] = rowGrad[i] * (exp(logits[i][c] - lse[i]) - [c == target[i]])   (0 for ignored rows)
// logits box [C, N], one thread per cell. (The loss rows, lse[i] - logits[i][target[i]],
// are formed on the host in float64: lib/ops/cross-entropy.ts.)

import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';
import { simdScaledExpShiftRows } from './wasm/vector-math.ts';

function crossEntropyGrad(this: any, logits: number[][], targets: number[], lse: number[], rowGrad: number[]): number {
  const target = targets[this.thread.y];
  if (target === this.constants.ignoreIndex) {
    return 0;
  }
  let p = Math.exp(logits[this.thread.y][this.thread.x] - lse[this.thread.y]);
  if (this.thread.x === target) {
    p = p - 1;
  }
  return rowGrad[this.thread.y] * p;
}

/**
 * The same gradient on the SIMD kernels: rowGrad * exp(logit - lse) for every
 * cell, then the target cell recomputed as rowGrad * (p - 1) and ignored rows
 * zeroed, each in the float32 steps of the GPU.js kernel.
 */
function simdCrossEntropyGrad(logits: TypedData, rows: number, classes: number, targets: TypedData, lse: TypedData, rowGrad: TypedData, ignoreIndex: number): Float32Array {
  const grad = simdScaledExpShiftRows(logits, rows, classes, lse, rowGrad);
  const f = Math.fround;
  for (let r = 0; r < rows; r++) {
    const target = targets[r];
    if (target === ignoreIndex) {
      grad.fill(0, r * classes, (r + 1) * classes);
      continue;
    }
    const p = f(Math.exp(f(logits[r * classes + target] - lse[r])));
    grad[r * classes + target] = f(rowGrad[r] * f(p - 1));
  }
  return grad;
}

const crossEntropyGradKernel = defineKernel({
  name: 'crossEntropy.grad',
  gpujs: (logits: TypedData, rows: number, classes: number, targets: TypedData, lse: TypedData, rowGrad: TypedData, ignoreIndex: number) =>
    launch({
      name: 'crossEntropy.grad',
      source: crossEntropyGrad,
      output: [classes, rows, 1],
      args: [boxed(logits, [classes, rows, 1]), boxed(targets, [rows, 1, 1]), boxed(lse, [rows, 1, 1]), boxed(rowGrad, [rows, 1, 1])],
      constants: { ignoreIndex },
    }),
  cpu: { kind: 'wasm-simd', run: simdCrossEntropyGrad },
  agreement: { tolerance: 'softmax', why: 'the SIMD kernel computes exp as a polynomial (about 1-2 ulp)' },
});

/** dlogits [rows, classes] from the rows' log-sum-exps and per-row upstream gradients (0 for ignored rows). */
export function runCrossEntropyGrad(
  logits: TypedData,
  rows: number,
  classes: number,
  targets: TypedData,
  lse: TypedData,
  rowGrad: TypedData,
  ignoreIndex: number,
): Float32Array {
  return crossEntropyGradKernel(logits, rows, classes, targets, lse, rowGrad, ignoreIndex);
}
