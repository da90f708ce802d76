// softmax and log_softmax along an axis, both from the shifted log-sum-exp
// (shiftedLogSumExp in reduce.ts):
//   log_softmax(x) = (x - m) - log(sum(exp(x - m))),   softmax(x) = exp(log_softmax(x)),
// with m = max(x). The two terms are rounded separately, so the error scales
// with the result, not with |x|. A fully masked row (all -inf) has m = -inf
// and x - m = NaN, so its softmax is NaN, exactly as in PyTorch.

import { Tensor } from '../tensor/tensor.ts';
import { normalizeAxis, splitAroundAxis } from '../tensor/shape.ts';
import { runSoftmaxBackwardRows, runSoftmaxRows } from '../../kernels/softmax.ts';
import { record } from '../autograd/tape.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { mul, sub } from './arithmetic.ts';
import { exp } from './unary.ts';
import { shiftedLogSumExp, sum } from './reduce.ts';

export function softmax(x: Tensor, axis = -1): Tensor {
  expectFloat('softmax', x);
  const a = normalizeAxis('softmax', axis, x.rank);
  const [outer, length, inner] = splitAroundAxis(x.shape, a);
  // along the last axis (attention's keys) one fused kernel; along any other the general path
  const y = inner === 1 && length > 0 && outer > 0 ? Tensor.fromData(runSoftmaxRows(x.contiguousData(), outer, length), x.shape) : elementwise('expSub', shiftedLogSumExp(x, a));
  // dx = y * (g - sum(g * y, axis)); along the last axis one fused kernel
  return record(y, 'softmax', [x], (g) =>
    inner === 1 && length > 0 && outer > 0
      ? [Tensor.fromData(runSoftmaxBackwardRows(y.contiguousData(), g.contiguousData(), outer, length), x.shape)]
      : [mul(y, sub(g, sum(mul(g, y), a, true)))],
  );
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  expectFloat('logSoftmax', x);
  const a = normalizeAxis('logSoftmax', axis, x.rank);
  const y = elementwise('sub', shiftedLogSumExp(x, a));
  // dx = g - softmax(x) * sum(g, axis) = g - exp(y) * sum(g, axis)
  return record(y, 'logSoftmax', [x], (g) => [sub(g, mul(exp(y), sum(g, a, true)))]);
}
