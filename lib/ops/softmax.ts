// softmax and log_softmax along an axis, both from one stable log-sum-exp:
//   log_softmax(x) = x - lse(x),   softmax(x) = exp(x - lse(x)),
// with lse(x) = m + log(sum(exp(x - m))), m = max(x). A fully masked row
// (all -inf) has lse = -inf, so its softmax is NaN, exactly as in PyTorch.

import type { Tensor } from '../tensor/tensor.ts';
import { normalizeAxis } from '../tensor/shape.ts';
import { record } from '../autograd/tape.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { mul, sub } from './arithmetic.ts';
import { exp } from './unary.ts';
import { reduceAxis, sum } from './reduce.ts';


export function softmax(x: Tensor, axis = -1): Tensor {
  expectFloat('softmax', x);
  const a = normalizeAxis('softmax', axis, x.rank);
  const y = elementwise('expSub', [x, reduceAxis('logSumExp', x, a, true)]);
  // dx = y * (g - sum(g * y, axis))
  return record(y, 'softmax', [x], (g) => [mul(y, sub(g, sum(mul(g, y), a, true)))]);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  expectFloat('logSoftmax', x);
  const a = normalizeAxis('logSoftmax', axis, x.rank);
  const y = elementwise('sub', [x, reduceAxis('logSumExp', x, a, true)]);
  // dx = g - softmax(x) * sum(g, axis) = g - exp(y) * sum(g, axis)
  return record(y, 'logSoftmax', [x], (g) => [sub(g, mul(exp(y), sum(g, a, true)))]);
}
