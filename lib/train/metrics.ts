// Classifier metrics, accumulated batch by batch (as scikit-learn computes them):
//   single-label (sequence or token)  accuracy, and macro-F1: the mean over the
//                                     classes that occur in the labels or the
//                                     predictions of F1 = 2 TP / (2 TP + FP + FN)
//                                     (f1_score(average="macro")); prediction =
//                                     argmax of the logits; labels -100 skipped
//   regression                        mse: mean squared error over every target
//   multi-label                       prediction = logit > 0 (probability > 0.5);
//                                     subset accuracy (every label of a row right)
//                                     and macro-F1 over every label column
// A class with no true and no predicted positives has F1 0 where it is counted
// (scikit-learn's zero_division default).

import type { ProblemType } from '../model/config.ts';
import { IGNORE_INDEX } from './data.ts';

export interface ClassificationMetrics {
  /** Items scored: labelled rows or tokens, or target entries for regression. */
  count: number;
  accuracy?: number;
  macro_f1?: number;
  mse?: number;
}

/** Per class: true positives, false positives, false negatives. */
class ClassCounts {
  readonly tp: number[];
  readonly fp: number[];
  readonly fn: number[];
  constructor(classes: number) {
    this.tp = new Array<number>(classes).fill(0);
    this.fp = new Array<number>(classes).fill(0);
    this.fn = new Array<number>(classes).fill(0);
  }

  /** Mean F1 over the classes `counted` picks. */
  macroF1(counted: (k: number) => boolean): number {
    let sum = 0;
    let classes = 0;
    for (let k = 0; k < this.tp.length; k++) {
      if (!counted(k)) continue;
      const denominator = 2 * this.tp[k] + this.fp[k] + this.fn[k];
      sum += denominator === 0 ? 0 : (2 * this.tp[k]) / denominator;
      classes++;
    }
    return classes === 0 ? 0 : sum / classes;
  }
}

export class MetricsAccumulator {
  private readonly counts: ClassCounts;
  private items = 0;
  private correct = 0;
  private squaredError = 0;

  constructor(
    readonly problemType: ProblemType,
    readonly numLabels: number,
  ) {
    this.counts = new ClassCounts(numLabels);
  }

  /**
   * Adds a batch: logits flattened to [items, numLabels] and their labels
   * (class ids, -100 skipped; regression targets; or 0/1 rows for multi-label).
   */
  add(logits: ArrayLike<number>, labels: ArrayLike<number>): void {
    const L = this.numLabels;
    const rows = logits.length / L;
    switch (this.problemType) {
      case 'regression':
        for (let i = 0; i < logits.length; i++) {
          const error = logits[i] - labels[i];
          this.squaredError += error * error;
        }
        this.items += logits.length;
        return;
      case 'single_label_classification':
        for (let r = 0; r < rows; r++) {
          const truth = labels[r];
          if (truth === IGNORE_INDEX) continue;
          let predicted = 0;
          for (let k = 1; k < L; k++) if (logits[r * L + k] > logits[r * L + predicted]) predicted = k;
          this.items++;
          if (predicted === truth) {
            this.correct++;
            this.counts.tp[truth]++;
          } else {
            this.counts.fp[predicted]++;
            this.counts.fn[truth]++;
          }
        }
        return;
      case 'multi_label_classification':
        for (let r = 0; r < rows; r++) {
          let allRight = true;
          for (let k = 0; k < L; k++) {
            const predicted = logits[r * L + k] > 0;
            const truth = labels[r * L + k] === 1;
            if (predicted !== truth) allRight = false;
            if (predicted && truth) this.counts.tp[k]++;
            else if (predicted) this.counts.fp[k]++;
            else if (truth) this.counts.fn[k]++;
          }
          this.items++;
          if (allRight) this.correct++;
        }
        return;
    }
  }

  result(): ClassificationMetrics {
    const n = this.items;
    if (this.problemType === 'regression') return { count: n, mse: n === 0 ? NaN : this.squaredError / n };
    const { tp, fp, fn } = this.counts;
    const macro =
      this.problemType === 'multi_label_classification'
        ? this.counts.macroF1(() => true) // every label column
        : this.counts.macroF1((k) => tp[k] + fp[k] + fn[k] > 0); // classes seen in the labels or the predictions
    return { count: n, accuracy: n === 0 ? NaN : this.correct / n, macro_f1: macro };
  }
}
