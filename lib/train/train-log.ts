// The training log: one JSONL line per optimizer step and per evaluation
// (names as in Transformers' log_history), and the files a run writes it to.
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
}

export interface EvalLogEntry {
  type: 'eval';
  step: number;
  /** Mean cross-entropy over every counted token of the eval rows. */
  eval_loss: number;
  eval_tokens: number;
  elapsed: number;
}

export type LogEntry = TrainLogEntry | EvalLogEntry;

export const LOG_FILE = 'train_log.jsonl';
export const PLOT_FILE = 'loss.svg';
