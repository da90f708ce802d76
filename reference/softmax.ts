// softmax(x)_i = exp(x_i) / sum_j exp(x_j) and log_softmax = log(softmax),
// both along one axis and shifted by the maximum for stability.

import type { RefTensor } from './tensor.ts';
import { logSumExp } from './reduce.ts';
import { exp, sub } from './elementwise.ts';

export function logSoftmax(x: RefTensor, axis: number): RefTensor {
  return sub(x, logSumExp(x, axis, true));
}

export function softmax(x: RefTensor, axis: number): RefTensor {
  return exp(logSoftmax(x, axis));
}
