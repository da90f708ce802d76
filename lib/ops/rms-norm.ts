// Gemma's RMSNorm over the last axis:
//   y = x / sqrt(mean(x^2) + eps) * (1 + w)
// (Gemma stores w around 0 and scales by 1 + w; Llama-style RMSNorm scales by w.)
// Forward: one row-statistic kernel and one element-wise scaling. Backward,
// with r = 1/sqrt(mean(x^2) + eps) and u = g (1 + w):
//   dx = r u - x r^3 mean(u x)        dw = sum over rows of g x r

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, numel, sameShape } from '../tensor/shape.ts';
import { record } from '../autograd/tape.ts';
import { runInverseRms } from '../../kernels/rms-norm.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { addScalar, mul, sub } from './arithmetic.ts';
import { mean, sumToShape } from './reduce.ts';

export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  expectFloat('rmsNorm', x, weight);
  const hidden = x.shape[x.rank - 1];
  if (x.rank === 0 || !sameShape(weight.shape, [hidden])) {
    throw new ShapeError(`rmsNorm: weight ${formatShape(weight.shape)} must match the last axis of x ${formatShape(x.shape)}`);
  }
  // rows from the leading axes (x.size / hidden is 0/0 for an empty last axis)
  const rows = numel(x.shape.slice(0, -1));
  const invRms = Tensor.fromData(rows * hidden === 0 ? new Float32Array(rows) : runInverseRms(x.contiguousData(), rows, hidden, eps), [...x.shape.slice(0, -1), 1]);
  const y = elementwise('rmsScale', [x, invRms, weight]);
  return record(y, 'rmsNorm', [x, weight], (g) => {
    const u = mul(g, addScalar(weight, 1));
    const r3 = mul(invRms, mul(invRms, invRms));
    return [
      x.requiresGrad ? sub(mul(u, invRms), mul(x, mul(r3, mean(mul(u, x), -1, true)))) : null,
      weight.requiresGrad ? sumToShape(mul(g, mul(x, invRms)), weight.shape) : null,
    ];
  });
}
