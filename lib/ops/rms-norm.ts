// Gemma's RMSNorm over the last axis:
//   y = x / sqrt(mean(x^2) + eps) * (1 + w)
// (Gemma stores w around 0 and scales by 1 + w; Llama-style RMSNorm scales by w.)
// Forward: one row-statistic kernel and one element-wise scaling; the
// gradient is in gradients.ts.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, numel, sameShape } from '../tensor/shape.ts';
import { record } from './record.ts';
import { runInverseRms } from '../../kernels/rms-norm.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';

export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  expectFloat('rmsNorm', x, weight);
  const hidden = x.shape[x.rank - 1];
  if (x.rank === 0 || !sameShape(weight.shape, [hidden])) {
    throw new ShapeError(`rmsNorm: weight ${formatShape(weight.shape)} must match the last axis of x ${formatShape(x.shape)}`);
  }
  // rows from the leading axes (x.size / hidden is 0/0 for an empty last axis)
  const rows = numel(x.shape.slice(0, -1));
  const invRms = Tensor.fromData(rows * hidden === 0 ? new Float32Array(rows) : runInverseRms(x.contiguousData(), rows, hidden, eps), [...x.shape.slice(0, -1), 1]);
  return record(elementwise('rmsScale', [x, invRms, weight]), 'rmsNorm', [x, weight], { invRms });
}
