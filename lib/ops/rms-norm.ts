// Gemma's RMSNorm over the last axis:
//   y = x / sqrt(mean(x^2) + eps) * (1 + w)
// (Gemma stores w around 0 and scales by 1 + w; Llama-style RMSNorm scales by w.)
// Forward: one kernel (kernels/rms-norm.ts) writes y and keeps each row's
// 1 / sqrt(mean(x^2) + eps) for the backward, which is one kernel too (the
// rule is in gradients.ts).

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, numel, sameShape } from '../tensor/shape.ts';
import { record } from './record.ts';
import { runRmsNorm } from '../../kernels/rms-norm.ts';
import { expectFloat } from './check.ts';

export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  expectFloat('rmsNorm', x, weight);
  const hidden = x.shape[x.rank - 1];
  if (x.rank === 0 || !sameShape(weight.shape, [hidden])) {
    throw new ShapeError(`rmsNorm: weight ${formatShape(weight.shape)} must match the last axis of x ${formatShape(x.shape)}`);
  }
  // rows from the leading axes (x.size / hidden is 0/0 for an empty last axis)
  const rows = numel(x.shape.slice(0, -1));
  if (rows * hidden === 0) return record(Tensor.fromData(new Float32Array(0), x.shape), 'rmsNorm', [x, weight], { invRms: new Float32Array(rows), rows, hidden });
  const { y, invRms } = runRmsNorm(x.contiguousData(), weight.contiguousData(), rows, hidden, eps);
  return record(Tensor.fromData(y, x.shape), 'rmsNorm', [x, weight], { invRms, rows, hidden });
}
