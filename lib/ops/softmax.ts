// softmax and log_softmax along an axis, both from the shifted log-sum-exp
// (shiftedLogSumExp in reduce.ts); their gradients are in gradients.ts:
//   log_softmax(x) = (x - m) - log(sum(exp(x - m))),   softmax(x) = exp(log_softmax(x)),
// with m = max(x). The two terms are rounded separately, so the error scales
// with the result, not with |x|. A fully masked row (all -inf) has m = -inf
// and x - m = NaN, so its softmax is NaN, exactly as in PyTorch.

import { Tensor } from '../tensor/tensor.ts';
import { normalizeAxis, splitAroundAxis } from '../tensor/shape.ts';
import { runSoftmaxRows } from '../../kernels/softmax.ts';
import { record } from './record.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { shiftedLogSumExp } from './reduce.ts';

/**
 * [rows, length] when softmax along `axis` of `shape` runs on the fused row
 * kernels (the last axis, not empty: attention's keys), else null. The
 * forward and its gradient rule take the same path.
 */
export function softmaxRows(shape: readonly number[], axis: number): [number, number] | null {
  const [outer, length, inner] = splitAroundAxis(shape as number[], axis);
  return inner === 1 && length > 0 && outer > 0 ? [outer, length] : null;
}

export function softmax(x: Tensor, axis = -1): Tensor {
  expectFloat('softmax', x);
  const a = normalizeAxis('softmax', axis, x.rank);
  const rows = softmaxRows(x.shape, a);
  // along the last axis one fused kernel; along any other the general path
  const y = rows !== null ? Tensor.fromData(runSoftmaxRows(x.contiguousData(), rows[0], rows[1]), x.shape) : elementwise('expSub', shiftedLogSumExp(x, a));
  return record(y, 'softmax', [x], { axis: a });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  expectFloat('logSoftmax', x);
  const a = normalizeAxis('logSoftmax', axis, x.rank);
  return record(elementwise('sub', shiftedLogSumExp(x, a)), 'logSoftmax', [x], { axis: a });
}
