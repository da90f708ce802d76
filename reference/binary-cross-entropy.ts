// Binary cross-entropy with logits, element by element:
//   loss = -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))
//        = max(x, 0) - x y + log(1 + exp(-|x|))
// (the second line is the same number, written so that no exp overflows and
// log1p keeps the small tail for large |x|).

import type { RefTensor } from './tensor.ts';

export function binaryCrossEntropyWithLogitsElements(logits: RefTensor, targets: RefTensor): RefTensor {
  if (logits.shape.join(',') !== targets.shape.join(',')) throw new Error(`binaryCrossEntropyWithLogits: shapes [${logits.shape}] and [${targets.shape}] differ`);
  const data = logits.data.map((x, i) => Math.max(x, 0) - x * targets.data[i] + Math.log1p(Math.exp(-Math.abs(x))));
  return { shape: logits.shape.slice(), data };
}

/** The mean over every element (BCEWithLogitsLoss's default reduction). */
export function binaryCrossEntropyWithLogits(logits: RefTensor, targets: RefTensor): number {
  const losses = binaryCrossEntropyWithLogitsElements(logits, targets).data;
  return losses.reduce((s, v) => s + v, 0) / losses.length;
}
