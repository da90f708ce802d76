// Cross-entropy of logits [rows, C] against integer targets, ignoring rows
// whose target is ignoreIndex; mean over the counted rows.
//   loss_i = log(sum_c exp(logits[i][c])) - logits[i][target_i]

import type { RefTensor } from './tensor.ts';

export function crossEntropyRows(logits: RefTensor, targets: number[], ignoreIndex = -100): number[] {
  const classes = logits.shape[logits.shape.length - 1];
  return targets.map((target, i) => {
    if (target === ignoreIndex) return 0;
    const row = Array.from(logits.data.subarray(i * classes, (i + 1) * classes));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    return lse - row[target];
  });
}

export function crossEntropy(logits: RefTensor, targets: number[], ignoreIndex = -100): number {
  const losses = crossEntropyRows(logits, targets, ignoreIndex);
  const counted = targets.filter((t) => t !== ignoreIndex).length;
  return losses.reduce((s, v) => s + v, 0) / counted;
}
