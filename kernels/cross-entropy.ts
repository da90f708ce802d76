// Cross-entropy rows and their gradient, given each row's log-sum-exp.
//   loss[i]    = lse[i] - logits[i][target[i]]            (0 for ignored rows)
//   dlogits[i][c] = rowGrad[i] * (exp(logits[i][c] - lse[i]) - [c == target[i]])
// logits box [C, N]; the loss is one thread per row, the gradient one per cell.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch } from './launch.ts';

function crossEntropyRows(this: any, logits: number[][], targets: number[], lse: number[]): number {
  const target = targets[this.thread.x];
  if (target === this.constants.ignoreIndex) {
    return 0;
  }
  return lse[this.thread.x] - logits[this.thread.x][target];
}

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

export function runCrossEntropyRows(logits: TypedData, rows: number, classes: number, targets: TypedData, lse: TypedData, ignoreIndex: number): Float32Array {
  return launch({
    name: 'crossEntropy.rows',
    source: crossEntropyRows,
    output: [rows, 1, 1],
    args: [boxed(logits, [classes, rows, 1]), boxed(targets, [rows, 1, 1]), boxed(lse, [rows, 1, 1])],
    constants: { ignoreIndex },
  });
}

export function runCrossEntropyGrad(
  logits: TypedData,
  rows: number,
  classes: number,
  targets: TypedData,
  lse: TypedData,
  rowGrad: TypedData,
  ignoreIndex: number,
): Float32Array {
  return launch({
    name: 'crossEntropy.grad',
    source: crossEntropyGrad,
    output: [classes, rows, 1],
    args: [boxed(logits, [classes, rows, 1]), boxed(targets, [rows, 1, 1]), boxed(lse, [rows, 1, 1]), boxed(rowGrad, [rows, 1, 1])],
    constants: { ignoreIndex },
  });
}
