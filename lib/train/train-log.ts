// The training log: one JSONL line per optimizer step and per evaluation
// (names as in Transformers' log_history), a line for a failure that stopped
// the run, and the files a run writes it to. The log is the run's whole
// history; trainer_state.json keeps only a bounded summary of it. JSON has no
// NaN or Infinity: a non-finite loss is written as null (and, in a skipped
// step's or a failure's line, spelled out as text).
// Apart from trainer.ts so that checkpoint.ts, which keeps the log history,
// and the trainer do not import each other.

import type { ClassificationMetrics } from './metrics.ts';

/** One line of the JSONL log per optimizer step (names as in Transformers' log_history). */
export interface TrainLogEntry {
  type: 'train';
  step: number;
  /** Epochs of training rows read so far (fractional). */
  epoch: number;
  /** Mean cross-entropy over the step's counted tokens. */
  loss: number;
  /** Learning rate the step used. */
  lr: number;
  /** Global gradient norm before clipping. */
  grad_norm: number;
  /** Input tokens (not padding) the step read. */
  tokens: number;
  /** Labels the loss counted. */
  loss_tokens: number;
  tokens_per_second: number;
  /** Seconds of training so far, earlier runs of a resumed training included. */
  elapsed: number;
  /** Only on a step skipped for a non-finite loss or gradient norm (skipNonFinite): what was not finite; the weights were not updated. */
  skipped?: string;
}

export interface EvalLogEntry {
  type: 'eval';
  step: number;
  /** Mean loss over every counted item of the eval rows (tokens; a sequence classifier's rows or targets). */
  eval_loss: number;
  eval_tokens: number;
  /** A classifier's metrics (metrics.ts), named as Transformers prefixes compute_metrics' keys. */
  eval_accuracy?: number;
  eval_macro_f1?: number;
  eval_mse?: number;
  elapsed: number;
}

/** The eval_* fields of a classifier's metrics (none for a causal LM). */
export function evalMetricFields(metrics: ClassificationMetrics | null): Pick<EvalLogEntry, 'eval_accuracy' | 'eval_macro_f1' | 'eval_mse'> {
  if (metrics === null) return {};
  const { accuracy, macro_f1, mse } = metrics;
  return {
    ...(accuracy === undefined ? {} : { eval_accuracy: accuracy }),
    ...(macro_f1 === undefined ? {} : { eval_macro_f1: macro_f1 }),
    ...(mse === undefined ? {} : { eval_mse: mse }),
  };
}

/** ", accuracy 0.9500, macro-F1 0.9490" (or ", mse ..."): for progress notes and summaries. */
export function describeMetrics(metrics: ClassificationMetrics | null): string {
  if (metrics === null) return '';
  const parts: string[] = [];
  if (metrics.accuracy !== undefined) parts.push(`accuracy ${metrics.accuracy.toFixed(4)}`);
  if (metrics.macro_f1 !== undefined) parts.push(`macro-F1 ${metrics.macro_f1.toFixed(4)}`);
  if (metrics.mse !== undefined) parts.push(`mse ${metrics.mse.toFixed(4)}`);
  return `, ${parts.join(', ')}`;
}


/** The step that stopped the run: its loss or gradient norm was not finite. Nothing of it was saved. */
export interface FailureLogEntry {
  type: 'failure';
  step: number;
  /** Which number was not finite. */
  quantity: 'loss' | 'grad_norm';
  /** 'NaN', 'Infinity' or '-Infinity'. */
  value: string;
  /** The step's loss (null in JSON when not finite). */
  loss: number;
  message: string;
  elapsed: number;
}

export type LogEntry = TrainLogEntry | EvalLogEntry | FailureLogEntry;

export const LOG_FILE = 'train_log.jsonl';
export const PLOT_FILE = 'loss.svg';
