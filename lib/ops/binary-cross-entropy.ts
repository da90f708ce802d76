// Binary cross-entropy with logits (torch.nn.BCEWithLogitsLoss): for logits x
// and targets y of the same shape (y in [0, 1], usually 0 or 1),
//   loss = -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))
//        = softplus(x) - x y,      softplus(x) = log(1 + e^x) = logSumExp([0, x])
// Composed from differentiable ops, so its gradient (sigmoid(x) - y for x,
// -x for y) comes from theirs. The log-sum-exp subtracts its maximum, so no
// exp overflows and nothing is computed as log of a rounded-to-zero sigmoid:
// the form is stable for any |x| (PyTorch's max-based formula is the same).
//   reduction 'mean' (default): mean over every element; 'sum'; 'none': per element.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { expectFloat } from './check.ts';
import { concat } from './concat.ts';
import { logSumExp, mean, sum } from './reduce.ts';
import { mul, sub } from './arithmetic.ts';
import type { Reduction } from './cross-entropy.ts';
import { unsqueeze } from './views.ts';

export interface BinaryCrossEntropyOptions {
  reduction?: Reduction;
}

export function binaryCrossEntropyWithLogits(logits: Tensor, targets: Tensor, options: BinaryCrossEntropyOptions = {}): Tensor {
  const reduction = options.reduction ?? 'mean';
  expectFloat('binaryCrossEntropyWithLogits', logits, targets);
  if (!sameShape(logits.shape, targets.shape)) {
    throw new ShapeError(`binaryCrossEntropyWithLogits: logits ${formatShape(logits.shape)} and targets ${formatShape(targets.shape)} must have the same shape`);
  }
  const x = unsqueeze(logits, -1); // [..., 1]
  const softplus = logSumExp(concat([Tensor.fromData(new Float32Array(x.size), x.shape), x], -1), -1); // log(e^0 + e^x)
  const losses = sub(softplus, mul(logits, targets));
  if (reduction === 'none') return losses;
  return reduction === 'sum' ? sum(losses) : mean(losses);
}
