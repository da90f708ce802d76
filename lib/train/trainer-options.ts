// The trainer's options: what a run is (steps, batches, optimizer, schedule,
// clipping, eval and save cadence, seed), their defaults and their checks.
// Apart from trainer.ts so that checkpoint.ts, which stores them, and the
// trainer, which writes checkpoints, do not import each other.

import type { ScheduleKind } from './schedule.ts';

export class TrainerError extends Error {
  override name = 'TrainerError';
}

export type OptimizerKind = 'adamw' | 'sgd';

export interface TrainerOptions {
  /** Optimizer steps in the whole run (the schedule's length). */
  steps: number;
  /** Rows per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  lr: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  optimizer: OptimizerKind;
  /** Decoupled (AdamW) or L2 (SGD) weight decay; never applied to norm weights and biases. */
  weightDecay: number;
  /** SGD momentum. */
  momentum: number;
  betas: [number, number];
  eps: number;
  /** Clip the global gradient norm to this; null: never clip (the norm is still logged). */
  maxGradNorm: number | null;
  /** Evaluate every this many steps (0: only at the end). */
  evalEvery: number;
  /** Save a checkpoint every this many steps (0: only at the end). */
  saveEvery: number;
  /** Seeds the data order (and, in the CLI, LoRA and --init weights). */
  seed: number;
  /** Recompute each decoder layer's activations in backward instead of keeping them (Gemma2Model.gradientCheckpointing): less memory, the same gradients. */
  gradientCheckpointing: boolean;
  /** Evaluate once before the first step (Transformers' eval_on_start): the eval metrics of the starting model, logged at step 0. */
  evalOnStart: boolean;
  /**
   * A step whose loss or gradient norm is not finite: false (default) stops the
   * run with an error naming the step; true skips it (no update, as AMP's
   * GradScaler skips an overflowing step), counts it and goes on.
   */
  skipNonFinite: boolean;
  /** Keep only the newest this many checkpoints (and the best), as Transformers' save_total_limit; null: keep all. */
  saveTotalLimit: number | null;
  /** Stop after this many evaluations in a row without an eval-loss improvement (Transformers' EarlyStoppingCallback); null: never. */
  earlyStoppingPatience: number | null;
  /** An eval loss improves only when it is below the best by more than this (early_stopping_threshold). */
  earlyStoppingThreshold: number;
}

/** Transformers' defaults where it has them (linear schedule, max_grad_norm 1); PyTorch's weight decay per optimizer. */
export function resolveTrainerOptions(given: Partial<TrainerOptions> = {}): TrainerOptions {
  const optimizer = given.optimizer ?? 'adamw';
  const o: TrainerOptions = {
    steps: 100,
    batchSize: 4,
    gradAccum: 1,
    lr: 1e-3,
    schedule: 'linear',
    warmupSteps: 0,
    optimizer,
    weightDecay: optimizer === 'adamw' ? 0.01 : 0,
    momentum: 0,
    betas: [0.9, 0.999],
    eps: 1e-8,
    maxGradNorm: 1,
    evalEvery: 0,
    saveEvery: 0,
    seed: 0,
    gradientCheckpointing: false,
    evalOnStart: false,
    skipNonFinite: false,
    saveTotalLimit: null,
    earlyStoppingPatience: null,
    earlyStoppingThreshold: 0,
    // An option given as undefined keeps its default.
    ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
  };
  const positiveInt = (name: keyof TrainerOptions, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new TrainerError(`${name} must be a positive integer, got ${v}`);
  };
  const nonNegativeInt = (name: keyof TrainerOptions, v: number) => {
    if (!Number.isInteger(v) || v < 0) throw new TrainerError(`${name} must be an integer >= 0, got ${v}`);
  };
  positiveInt('steps', o.steps);
  positiveInt('batchSize', o.batchSize);
  positiveInt('gradAccum', o.gradAccum);
  nonNegativeInt('warmupSteps', o.warmupSteps);
  nonNegativeInt('evalEvery', o.evalEvery);
  nonNegativeInt('saveEvery', o.saveEvery);
  if (typeof o.gradientCheckpointing !== 'boolean') throw new TrainerError(`gradientCheckpointing must be true or false, got ${JSON.stringify(o.gradientCheckpointing)}`);
  if (typeof o.evalOnStart !== 'boolean') throw new TrainerError(`evalOnStart must be true or false, got ${JSON.stringify(o.evalOnStart)}`);
  if (!Number.isInteger(o.seed)) throw new TrainerError(`seed must be an integer, got ${o.seed}`);
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new TrainerError(`lr must be a finite number >= 0, got ${o.lr}`);
  if (!['constant', 'linear', 'cosine'].includes(o.schedule)) throw new TrainerError(`schedule must be constant, linear or cosine, got ${o.schedule}`);
  if (!['adamw', 'sgd'].includes(o.optimizer)) throw new TrainerError(`optimizer must be adamw or sgd, got ${o.optimizer}`);
  if (o.maxGradNorm !== null && !(o.maxGradNorm > 0)) throw new TrainerError(`maxGradNorm must be positive (or null for no clipping), got ${o.maxGradNorm}`);
  if (typeof o.skipNonFinite !== 'boolean') throw new TrainerError(`skipNonFinite must be true or false, got ${o.skipNonFinite}`);
  if (o.saveTotalLimit !== null) positiveInt('saveTotalLimit', o.saveTotalLimit);
  if (o.earlyStoppingPatience !== null) positiveInt('earlyStoppingPatience', o.earlyStoppingPatience);
  if (!(o.earlyStoppingThreshold >= 0) || !Number.isFinite(o.earlyStoppingThreshold)) throw new TrainerError(`earlyStoppingThreshold must be a finite number >= 0, got ${o.earlyStoppingThreshold}`);
  if (o.optimizer === 'adamw' && o.momentum !== 0) throw new TrainerError('momentum is an SGD option; AdamW has betas');
  return o;
}
