// softmax(x)_i = exp(x_i) / sum_j exp(x_j) and log_softmax = log(softmax),
// both along one axis and shifted by the maximum for stability, the way
// PyTorch forms them: log_softmax(x) = (x - m) - log(sum(exp(x - m))). So a
// slice holding NaN or +inf, or all -inf, is NaN throughout, as in PyTorch.

import type { RefTensor } from './tensor.ts';
import { logSumExp, max } from './reduce.ts';
import { exp, sub } from './elementwise.ts';

export function logSoftmax(x: RefTensor, axis: number): RefTensor {
  const shifted = sub(x, max(x, axis, true));
  return sub(shifted, logSumExp(shifted, axis, true));
}

export function softmax(x: RefTensor, axis: number): RefTensor {
  return exp(logSoftmax(x, axis));
}
