// The training log: one JSONL line per optimizer step and per evaluation
// (names as in Transformers' log_history), a line for a failure that stopped
// the run, and the files a run writes it to. The log is the run's whole
// history; trainer_state.json keeps only a bounded summary of it. JSON has no
// NaN or Infinity: a non-finite loss is written as null (and, in a skipped
// step's or a failure's line, spelled out as text).
// Apart from trainer.ts so that checkpoint.ts, which keeps the log history,
// and the trainer do not import each other.

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
  /** Mean cross-entropy over every counted token of the eval rows. */
  eval_loss: number;
  eval_tokens: number;
  elapsed: number;
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
