// Cross-entropy between logits [..., C] and int32 targets [...], with
// ignoreIndex (default -100, Transformers' label for "no loss here").
//   reduction 'mean': sum of the counted rows' losses / number of counted rows
//                     (NaN when no row is counted, as in PyTorch)
//   reduction 'sum' : sum of the counted rows' losses
//   reduction 'none': one loss per row, 0 for ignored rows

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { record } from '../autograd/tape.ts';
import { runCrossEntropyGrad, runCrossEntropyRows } from '../../kernels/cross-entropy.ts';
import { expectFloat, expectInt } from './check.ts';
import { reduceAxis, sum } from './reduce.ts';
import { mulScalar } from './arithmetic.ts';

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  reduction?: Reduction;
}

export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? 'mean';
  expectFloat('crossEntropy', logits);
  expectInt('crossEntropy', 'targets', targets);
  if (logits.rank < 1 || !sameShape(logits.shape.slice(0, -1), targets.shape)) {
    throw new ShapeError(`crossEntropy: logits ${formatShape(logits.shape)} and targets ${formatShape(targets.shape)} disagree (expected logits [...targets.shape, classes])`);
  }
  const classes = logits.shape[logits.rank - 1];
  const rows = targets.size;
  const targetData = targets.contiguousData();
  let counted = 0;
  for (let i = 0; i < rows; i++) {
    const t = targetData[i];
    if (t === ignoreIndex) continue;
    if (t < 0 || t >= classes) {
      throw new ShapeError(`crossEntropy: target ${t} at flat position ${i} is outside [0, ${classes}) and is not the ignore index ${ignoreIndex}`);
    }
    counted++;
  }
  const logits2 = logits.reshape([rows, classes]);
  const logitData = logits2.contiguousData();
  // With no classes every row is ignored (any counted target failed the check above): its loss is 0.
  const empty = rows * classes === 0;
  const lse = empty ? new Float32Array(0) : reduceAxis('logSumExp', logits2, 1, false).contiguousData();
  const perRow = empty ? new Float32Array(rows) : runCrossEntropyRows(logitData, rows, classes, targetData, lse, ignoreIndex);
  const losses = record(Tensor.fromData(perRow, targets.shape), 'crossEntropy', [logits], (g) => {
    const grad = rows * classes === 0 ? new Float32Array(0) : runCrossEntropyGrad(logitData, rows, classes, targetData, lse, g.contiguousData(), ignoreIndex);
    return [Tensor.fromData(grad, logits.shape)];
  });
  if (reduction === 'none') return losses;
  const total = sum(losses);
  return reduction === 'sum' ? total : mulScalar(total, 1 / counted);
}
