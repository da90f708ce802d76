// Cross-entropy between logits [..., C] and int32 targets [...], with
// ignoreIndex (default -100, Transformers' label for "no loss here").
//   reduction 'mean': sum of the counted rows' losses / number of counted rows
//                     (NaN when no row is counted, as in PyTorch)
//   reduction 'sum' : sum of the counted rows' losses
//   reduction 'none': one loss per row, 0 for ignored rows
// The rows' log-sum-exps are float32 kernels; the rows are then combined in
// float64 and the loss rounded to float32 once. The gradient (gradients.ts) is
// one kernel, softmax minus the one-hot target, per counted row.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { record } from './record.ts';
import { expectFloat, expectInt } from './check.ts';
import { reduceAxis } from './reduce.ts';
import { reshape } from './views.ts';

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
  const logits2 = reshape(logits, [rows, classes]);
  const logitData = logits2.contiguousData();
  // With no classes every row is ignored (any counted target failed the check above): its loss is 0.
  const empty = rows * classes === 0;
  const lse = empty ? new Float32Array(0) : reduceAxis('logSumExp', logits2, 1, false).contiguousData();
  // Each row's loss lse - logit[target] is the exact difference of two float32 values, kept in
  // float64; 'mean' and 'sum' add the rows in float64 and round once, so the loss is as close to
  // the exact sum of the float32 row values as float32 allows (one rounding, not one per row).
  const perRow = new Float64Array(rows);
  for (let i = 0; i < rows; i++) if (targetData[i] !== ignoreIndex) perRow[i] = lse[i] - logitData[i * classes + targetData[i]];
  // the rule reads the logits and lse rows as the forward saw them (targets it reads from the tensor)
  const attrs = { logitData, lse, ignoreIndex, reduction, counted };
  if (reduction === 'none') return record(Tensor.fromData(Float32Array.from(perRow), targets.shape), 'crossEntropy', [logits, targets], attrs);
  let total = 0;
  for (let i = 0; i < rows; i++) total += perRow[i];
  // mean over no counted row is 0 / 0 = NaN, as in PyTorch
  const value = reduction === 'sum' ? total : total / counted;
  return record(Tensor.fromData(Float32Array.of(value), []), 'crossEntropy', [logits, targets], attrs);
}
