// The training loop. One optimizer step:
//   lr = base lr * schedule factor(step)            (warmup, then constant/linear/cosine)
//   read gradAccum micro-batches of batchSize rows; N = labels the loss counts
//     over ALL of them (labels[:, 1:] other than -100)
//   for each micro-batch: backward(sum of its token losses / N)
//   clip the global gradient norm; optimizer step
//   a non-finite loss or gradient norm: stop with NonFiniteStepError (nothing of
//     the step is saved), or with skipNonFinite skip the update, count the step, go on
// Normalising by the step's N, not by each micro-batch's own count, makes the
// accumulated gradient that of the mean loss over every counted token of the
// step: K micro-batches of B rows equal one batch of K*B rows (up to float
// rounding) however the counted tokens are spread over them. Averaging
// per-micro-batch means would give a token of a short micro-batch more weight.
// Transformers' num_items_in_batch does the same (huggingface/transformers#34191, #34283).
// A classifier's step does the same over its items (task.ts: rows, target
// entries or labelled tokens).
//
// Around the steps: eval loss every evalEvery steps and at the end (no
// gradients, mean over counted tokens, LoRA dropout off), a JSONL log line
// per step and per eval, a progress bar, a loss-curve SVG, and checkpoints
// (checkpoint.ts) every saveEvery steps and at the end, from which resume()
// continues bit-identically. The newest saveTotalLimit checkpoints are kept,
// and the best (lowest eval loss); earlyStoppingPatience evaluations without
// improvement end the run early. The output folder is locked while train()
// runs (run-lock.ts); the memory a run needs is estimated and checked when
// the trainer is made (memory-estimate.ts).

import fs from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../tensor/tensor.ts';
import { mul } from '../ops/index.ts';
import { AdamW, SGD } from './optimizer.ts';
import { clipGradNorm } from './clip.ts';
import { type Schedule, learningRateFactor } from './schedule.ts';
import type { LoraModel } from './lora.ts';
import { type Batch, type Dataset, BatchStream } from './data.ts';
import { type TrainableModel, checkTaskData, batchLossSum, taskBatch, taskOfDataset } from './task.ts';
import { type EvalResult, evaluateModel } from './evaluate.ts';
import { type ProgressBar } from './progress.ts';
import { lossCurveSvg } from './plot.ts';
import {
  type ModelSource,
  type TrainerState,
  OPTIMIZER_FILE,
  checkpointPath,
  loadCheckpointModel,
  readOptimizerState,
  readTrainerState,
  saveTrainerCheckpoint,
  summarizeLog,
} from './checkpoint.ts';
import { type TrainerOptions, TrainerError, resolveTrainerOptions } from './trainer-options.ts';
import { type LogEntry, type TrainLogEntry, type EvalLogEntry, type FailureLogEntry, LOG_FILE, PLOT_FILE, describeMetrics, evalMetricFields } from './train-log.ts';
import { acquireRunLock, describeStaleLock } from './run-lock.ts';
import { readLogHistory, rotateCheckpoints } from './run-folder.ts';
import { writeFileDurably } from './atomic-write.ts';
import { checkTrainingMemory, estimateTrainingMemory } from './memory-estimate.ts';

/** A step's loss or gradient norm was not finite and the run stopped (skipNonFinite was off). */
export class NonFiniteStepError extends TrainerError {
  override name = 'NonFiniteStepError';
  constructor(
    readonly step: number,
    readonly quantity: 'loss' | 'grad_norm',
    readonly value: number,
    message: string,
  ) {
    super(message);
  }
}

// The options and the log live in their own files (checkpoint.ts stores both);
// the trainer is where callers look for them.

export { tokenLossSum } from './task.ts';

/** Norm weights and biases take no weight decay, as in Transformers' get_decay_parameter_names after 4.47, which also matches RMSNorms by name (4.47 decayed them; huggingface/transformers#35927). */
export function takesWeightDecay(name: string): boolean {
  return !name.endsWith('norm.weight') && !name.endsWith('bias');
}

export interface TrainerSetup {
  /** A causal LM, or a sequence or token classifier (task.ts): the data must be for its task. */
  model: TrainableModel;
  /** Train these adapters only; the model's own weights stay as they are. */
  lora?: LoraModel | null;
  train: Dataset;
  eval?: Dataset | null;
  options?: Partial<TrainerOptions>;
  /** Where the log, the plot and the checkpoints go; null: nowhere (nothing is written). */
  outDir?: string | null;
  /** Where the model came from, recorded in checkpoints so a LoRA run can rebuild its base model. */
  source?: ModelSource | null;
  /** A folder whose tokenizer files are copied into every checkpoint, so a checkpoint is a complete model folder. */
  tokenizerDir?: string | null;
  progress?: ProgressBar | null;
  /** Called with every log entry as it is written. */
  onLog?: (entry: LogEntry) => void;
  /** Kept in trainer_state.json as is (JSON values), and carried on by resume. */
  extra?: Record<string, unknown>;
  /**
   * false: do not compare the memory the run needs (gradients, optimizer state,
   * activations; the model exists already) with the free memory. Default true.
   * A tensor too large for a typed array is refused either way.
   */
  memoryCheck?: boolean;
}

export interface ResumeSetup extends Omit<TrainerSetup, 'model' | 'lora' | 'options' | 'source' | 'extra'> {
  /** Builds the base model a LoRA checkpoint's adapters attach to (a full checkpoint holds the model itself). */
  baseModel?: () => TrainableModel;
  /** The options that may differ from the checkpoint's without changing the steps already taken. */
  overrides?: Partial<Pick<TrainerOptions, 'steps' | 'evalEvery' | 'saveEvery' | 'saveTotalLimit' | 'skipNonFinite'>>;
}

export interface TrainResult {
  step: number;
  /** Checkpoint folders written in this call. */
  checkpoints: string[];
  logFile: string | null;
  plotFile: string | null;
  /** Steps skipped for a non-finite loss or gradient norm (skipNonFinite), over the whole run. */
  skippedSteps: number;
  /** Set when early stopping ended the run: the step it stopped at. */
  stoppedEarlyAt: number | null;
  /** The checkpoint with the lowest eval loss, and that loss (null without evaluations at saved steps). */
  bestCheckpoint: string | null;
  bestMetric: number | null;
}

export class Trainer {
  readonly model: TrainableModel;
  readonly lora: LoraModel | null;
  readonly options: TrainerOptions;
  readonly schedule: Schedule;
  readonly optimizer: AdamW | SGD;
  /** Trained tensors with their names, in the optimizer's order (decaying group first). */
  readonly parameters: [string, Tensor][];
  readonly data: BatchStream;
  readonly evalData: Dataset | null;
  readonly outDir: string | null;
  readonly source: ModelSource | null;
  /** Optimizer steps taken. */
  step = 0;
  tokensSeen = 0;
  /** Every log entry so far (restored on resume from the log file): the plot and trainer_state.json's summary. */
  history: LogEntry[] = [];
  /** Steps skipped for a non-finite loss or gradient norm. */
  skippedSteps = 0;
  /** Lowest eval loss so far, the step it was measured at, and the checkpoint saved at that step (Transformers' TrainerState.best_metric, best_model_checkpoint). */
  bestMetric: number | null = null;
  bestMetricStep: number | null = null;
  bestCheckpoint: string | null = null;
  /** Evaluations in a row without improvement (EarlyStoppingCallback's counter). */
  earlyStoppingCounter = 0;
  stoppedEarlyAt: number | null = null;
  /** The step that stopped the run (a non-finite loss or gradient norm): the trainer takes no further step and saves nothing. */
  failedAt: number | null = null;
  /** The newest checkpoint this trainer wrote or resumed from, if any: what a failure leaves to resume. */
  lastSavedCheckpoint: string | null = null;
  /** Things a caller should tell the user (a stale lock taken over, a log that could not be restored). */
  readonly notes: string[] = [];
  private elapsedBefore = 0;
  private readonly sessionStart = performance.now();
  private readonly tokenizerDir: string | null;
  private readonly progress: ProgressBar | null;
  private readonly onLog: ((entry: LogEntry) => void) | null;
  private readonly extra: Record<string, unknown>;

  constructor(setup: TrainerSetup) {
    this.model = setup.model;
    this.lora = setup.lora ?? null;
    this.options = resolveTrainerOptions(setup.options);
    const o = this.options;
    if (this.lora !== null && this.lora.model !== this.model) throw new TrainerError('the LoRA adapters belong to a different model');
    this.schedule = { kind: o.schedule, warmupSteps: o.warmupSteps, totalSteps: o.steps };
    this.outDir = setup.outDir ?? null;
    this.source = setup.source ?? null;
    this.tokenizerDir = setup.tokenizerDir ?? null;
    this.progress = setup.progress ?? null;
    this.onLog = setup.onLog ?? null;
    this.extra = setup.extra ?? {};
    this.evalData = setup.eval ?? null;
    if (setup.train.seqLen > this.model.config.maxPositionEmbeddings) {
      throw new TrainerError(`rows of ${setup.train.seqLen} tokens are longer than the model's max_position_embeddings ${this.model.config.maxPositionEmbeddings}`);
    }
    checkTaskData(this.model, setup.train);
    if (this.evalData !== null) checkTaskData(this.model, this.evalData);
    this.data = new BatchStream(setup.train, o.batchSize, o.seed);

    const named = this.lora === null ? this.model.namedParameters() : this.lora.trainableParameters();
    if (this.lora === null) {
      // full fine-tuning trains float32 master weights; a bf16 checkpoint kept in bf16 (the default load) cannot be trained
      const kept = named.filter(([, p]) => p.dtype !== 'float32').map(([name]) => name);
      if (kept.length > 0) {
        throw new TrainerError(
          `full fine-tuning needs float32 weights, but ${kept.length} are bfloat16 (${kept[0]}, ...): load the model with fromPretrained(dir, { weightDtype: 'float32' }), or train LoRA adapters over the bf16 base`,
        );
      }
      for (const [, p] of named) p.requireGrad();
    }
    if (named.length === 0) throw new TrainerError('nothing to train: the model has no trainable parameters');
    this.model.model.gradientCheckpointing = o.gradientCheckpointing;
    const decay = named.filter(([name]) => takesWeightDecay(name));
    const noDecay = named.filter(([name]) => !takesWeightDecay(name));
    this.parameters = [...decay, ...noDecay];
    const groups = [
      { params: decay.map(([, p]) => p), options: { weightDecay: o.weightDecay } },
      { params: noDecay.map(([, p]) => p), options: { weightDecay: 0 } },
    ].filter((g) => g.params.length > 0);
    this.checkMemory(setup.memoryCheck !== false);
    this.optimizer =
      o.optimizer === 'adamw' ? new AdamW(groups, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay }) : new SGD(groups, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
  }

  /**
   * Refuses a run whose gradients, optimizer state and activations (the weights
   * exist already) exceed the free memory (when `compare`), or one of whose
   * tensors cannot be a typed array (always).
   */
  private checkMemory(compare: boolean): void {
    const o = this.options;
    const bf16Base = this.model.namedParameters().some(([, p]) => p.dtype === 'bfloat16');
    const shape = {
      batchSize: o.batchSize,
      seqLen: this.data.data.seqLen,
      optimizer: o.optimizer,
      momentum: o.momentum,
      lora: this.lora === null ? null : { r: this.lora.config.r, targetModules: this.lora.config.targetModules },
      baseWeightBytes: bf16Base ? (2 as const) : (4 as const),
      gradientCheckpointing: o.gradientCheckpointing,
    };
    const estimate = estimateTrainingMemory(this.model.config, shape);
    checkTrainingMemory(estimate, shape, { allocated: estimate.weights, compare, override: "the trainer's memoryCheck: false" });
  }

  /** Continues the run saved in a checkpoint folder exactly where it stopped. */
  static resume(checkpointDir: string, setup: ResumeSetup): Trainer {
    const state = readTrainerState(checkpointDir);
    const { model, lora } = loadCheckpointModel(checkpointDir, state, setup.baseModel);
    const options = { ...state.options, ...setup.overrides };
    if (options.steps < state.step) throw new TrainerError(`${checkpointDir} is at step ${state.step}, past the ${options.steps} steps asked for`);
    const trainer = new Trainer({ ...setup, model, lora, options, source: state.source, extra: state.extra ?? {} });
    const states = readOptimizerState(path.join(checkpointDir, OPTIMIZER_FILE), options.optimizer, trainer.parameters);
    // readOptimizerState read the kind of state this optimizer keeps (it checked the kind).
    (trainer.optimizer as { loadStateList(s: typeof states): void }).loadStateList(states);
    trainer.data.restore(state.data);
    if (lora !== null && state.dropoutGenerator !== null) lora.generator.setState(state.dropoutGenerator);
    trainer.step = state.step;
    trainer.tokensSeen = state.tokensSeen;
    trainer.elapsedBefore = state.elapsedSeconds;
    trainer.skippedSteps = state.logSummary.skippedSteps;
    trainer.bestMetric = state.bestMetric;
    trainer.bestMetricStep = state.bestMetricStep;
    trainer.bestCheckpoint = state.bestCheckpoint;
    trainer.earlyStoppingCounter = state.earlyStoppingCounter;
    trainer.history = Trainer.restoredHistory(checkpointDir, state, trainer.notes);
    trainer.lastSavedCheckpoint = checkpointDir;
    return trainer;
  }

  /**
   * The log history up to the checkpoint: a version-1 state's own copy, else the
   * lines of the run's log (train_log.jsonl beside the checkpoint) up to its
   * step, checked against the state's summary. A log that is missing or belongs
   * to another history leaves only the summary's last lines (and a note).
   */
  private static restoredHistory(checkpointDir: string, state: TrainerState, notes: string[]): LogEntry[] {
    if (state.logHistory !== undefined) return [...state.logHistory];
    const file = path.join(path.dirname(path.resolve(checkpointDir)), LOG_FILE);
    const logged = readLogHistory(file, state.step);
    const { lastTrain, lastEval } = state.logSummary;
    const same = (a: LogEntry | null | undefined, b: LogEntry | null) => JSON.stringify(a ?? null) === JSON.stringify(b);
    const loggedTrain = logged?.filter((e) => e.type === 'train').at(-1);
    const loggedEval = logged?.filter((e) => e.type === 'eval').at(-1);
    if (logged !== null && same(loggedTrain, lastTrain) && same(loggedEval, lastEval)) return logged;
    notes.push(
      logged === null
        ? `${file} is missing: the log restarts from the checkpoint's last lines (step ${state.step})`
        : `${file} does not match ${checkpointDir} (it was written by another run from this folder): the log restarts from the checkpoint's last lines (step ${state.step})`,
    );
    return [lastTrain, lastEval].filter((e): e is TrainLogEntry | EvalLogEntry => e !== null).sort((a, b) => a.step - b.step);
  }

  /** Seconds of training so far, earlier runs included. */
  get elapsed(): number {
    return this.elapsedBefore + (performance.now() - this.sessionStart) / 1000;
  }

  /** The learning rate of step `step` (0-based). */
  learningRate(step: number): number {
    return this.options.lr * learningRateFactor(this.schedule, step);
  }

  /** One optimizer step over gradAccum micro-batches; returns (and logs) its log entry. */
  trainStep(): TrainLogEntry {
    this.refuseAfterFailure();
    const started = performance.now();
    const lr = this.learningRate(this.step);
    this.optimizer.setLearningRate(lr);
    const batches: Batch[] = Array.from({ length: this.options.gradAccum }, () => taskBatch(this.data.data, this.data.nextRows(this.options.batchSize)));
    const lossTokens = batches.reduce((n, b) => n + b.lossTokens, 0);
    if (lossTokens === 0) throw new TrainerError(`step ${this.step + 1}: none of its ${batches.length * this.options.batchSize} rows has a label to learn (all -100${taskOfDataset(this.data.data) === 'causal-lm' ? ' after the first position' : ''})`);
    this.optimizer.zeroGrad();
    if (this.lora !== null) this.lora.training = true;
    let lossSum = 0;
    for (const batch of batches) {
      if (batch.lossTokens === 0) continue; // no label in this micro-batch: no loss, no gradient (a classifier's mean would be 0 / 0)
      const { sum: summed } = batchLossSum(this.model, batch);
      mul(summed, 1 / lossTokens).backward();
      lossSum += summed.item();
    }
    const gradNorm = clipGradNorm(
      this.parameters.map(([, p]) => p),
      this.options.maxGradNorm ?? Infinity,
    );
    const loss = lossSum / lossTokens;
    const nonFinite = !Number.isFinite(loss) ? ({ quantity: 'loss', value: loss } as const) : !Number.isFinite(gradNorm) ? ({ quantity: 'grad_norm', value: gradNorm } as const) : null;
    if (nonFinite !== null && !this.options.skipNonFinite) {
      this.optimizer.zeroGrad();
      this.failNonFinite(this.step + 1, nonFinite.quantity, nonFinite.value, loss);
    }
    // a skipped step updates nothing but still counts: the schedule and the data move on, as when AMP's GradScaler skips one
    if (nonFinite === null) this.optimizer.step();
    else this.skippedSteps++;
    this.optimizer.zeroGrad(); // gradients are not needed past the step: free them
    this.step++;
    const tokens = batches.reduce((n, b) => n + b.inputTokens, 0);
    this.tokensSeen += tokens;
    const seconds = (performance.now() - started) / 1000;
    const entry: TrainLogEntry = {
      type: 'train',
      step: this.step,
      epoch: this.data.epoch,
      loss,
      lr,
      grad_norm: gradNorm,
      tokens,
      loss_tokens: lossTokens,
      tokens_per_second: tokens / Math.max(seconds, 1e-9),
      elapsed: this.elapsed,
      ...(nonFinite === null ? {} : { skipped: `${nonFinite.quantity === 'loss' ? 'loss' : 'gradient norm'} is ${nonFinite.value}` }),
    };
    this.log(entry);
    if (nonFinite !== null) this.progress?.note(`step ${this.step}: skipped, the ${entry.skipped} (no update; ${this.skippedSteps} skipped so far)`);
    this.progress?.update({ step: this.step, loss: entry.loss, tokensPerSecond: entry.tokens_per_second });
    return entry;
  }

  /** Logs the failure of step `step` and throws NonFiniteStepError: nothing of the step is applied or saved. */
  private failNonFinite(step: number, quantity: 'loss' | 'grad_norm', value: number, loss: number): never {
    const saved = this.outDir === null ? null : this.lastSavedCheckpoint;
    const message =
      `step ${step}: the ${quantity === 'loss' ? 'loss' : 'gradient norm'} is ${value}${quantity === 'grad_norm' ? ` (loss ${loss})` : ''}; the run diverged and is stopped. ` +
      `${saved === null ? 'No checkpoint was saved before it' : `The last good checkpoint is ${saved}`}; nothing of step ${step} is saved. ` +
      'Lower the learning rate or clip the gradient norm; skipNonFinite (--skip-nonfinite-steps) skips such steps instead';
    const entry: FailureLogEntry = { type: 'failure', step, quantity, value: String(value), loss, message, elapsed: this.elapsed };
    this.log(entry);
    this.failedAt = step;
    throw new NonFiniteStepError(step, quantity, value, message);
  }

  /** After a failure the data order has moved past the failed step: going on (or saving) would not be the run any more. */
  private refuseAfterFailure(): void {
    if (this.failedAt === null) return;
    throw new TrainerError(`the run stopped at step ${this.failedAt} (not finite); resume from ${this.lastSavedCheckpoint ?? 'a fresh start'} instead of going on`);
  }

  /** Mean loss over every counted item of the eval rows (and a classifier's metrics), without gradients and without LoRA dropout. */
  evaluate(data: Dataset | null = this.evalData): { loss: number; tokens: number; metrics: EvalResult['metrics'] } {
    if (data === null) throw new TrainerError('evaluate: there is no eval data');
    const wasTraining = this.lora?.training ?? false;
    if (this.lora !== null) this.lora.training = false;
    try {
      const { loss, items, metrics } = evaluateModel(this.model, data, this.options.batchSize);
      return { loss, tokens: items, metrics };
    } finally {
      if (this.lora !== null) this.lora.training = wasTraining;
    }
  }

  /** Runs steps until `untilStep` (default: the run's last); evaluates and saves as the options say, and saves where it stops. */
  train(untilStep = this.options.steps): TrainResult {
    if (!(Number.isInteger(untilStep) && untilStep >= this.step && untilStep <= this.options.steps)) {
      throw new TrainerError(`train: cannot run to step ${untilStep} from step ${this.step} in a run of ${this.options.steps} steps`);
    }
    const { evalEvery, saveEvery, steps } = this.options;
    const checkpoints: string[] = [];
    const lock = this.outDir === null ? null : acquireRunLock(this.outDir);
    if (lock?.tookOverStale) this.notes.push(describeStaleLock(lock.tookOverStale));
    try {
      if (this.outDir !== null) {
        // Rewritten from the history: a resumed run drops lines written after its checkpoint.
        fs.writeFileSync(this.logFile()!, this.history.map((e) => `${JSON.stringify(e)}\n`).join(''));
      }
      // the starting model's metrics, once per run (a resumed run has them in its history already)
      if (this.options.evalOnStart && this.evalData !== null && this.step === 0 && !this.history.some((e) => e.type === 'eval' && e.step === 0)) {
        this.logEval({ trackBest: false });
      }
      while (this.step < untilStep && this.stoppedEarlyAt === null) {
        this.trainStep();
        const last = this.step === steps;
        if (this.evalData !== null && (last || (evalEvery > 0 && this.step % evalEvery === 0))) this.logEval();
        const stopping = this.stoppedEarlyAt !== null;
        if (this.outDir !== null && (last || stopping || this.step === untilStep || (saveEvery > 0 && this.step % saveEvery === 0))) checkpoints.push(this.saveCheckpoint());
      }
      this.progress?.finish();
      return {
        step: this.step,
        checkpoints,
        logFile: this.logFile(),
        plotFile: this.outDir === null ? null : this.writePlot(),
        skippedSteps: this.skippedSteps,
        stoppedEarlyAt: this.stoppedEarlyAt,
        bestCheckpoint: this.bestCheckpoint,
        bestMetric: this.bestMetric,
      };
    } catch (error) {
      this.progress?.finish();
      try {
        if (this.outDir !== null) this.writePlot(); // the plot shows where it went wrong
      } catch {
        // the run's own error is the one to report
      }
      throw error;
    } finally {
      lock?.release();
    }
  }

  /**
   * Evaluates and logs the result. `trackBest` false: the eval before the first
   * step, which has no checkpoint to be the best one and does not count
   * towards early stopping.
   */
  logEval({ trackBest = true } = {}): EvalLogEntry {
    const { loss, tokens, metrics } = this.evaluate();
    const entry: EvalLogEntry = { type: 'eval', step: this.step, eval_loss: loss, eval_tokens: tokens, ...evalMetricFields(metrics), elapsed: this.elapsed };
    this.log(entry);
    this.progress?.note(`eval at step ${this.step}: loss ${loss.toFixed(4)} over ${tokens} ${taskOfDataset(this.evalData!) === 'seq-cls' ? 'items' : 'tokens'}${describeMetrics(metrics)}`);
    if (trackBest) this.trackBest(loss);
    return entry;
  }

  /**
   * Early stopping as Transformers' EarlyStoppingCallback: the loss resets the
   * count when it is below the best so far by more than the threshold, else
   * counts; then the best metric as Trainer._determine_best_metric (any lower
   * loss). A non-finite eval loss never improves.
   */
  private trackBest(loss: number): void {
    const { earlyStoppingPatience, earlyStoppingThreshold } = this.options;
    const best = this.bestMetric;
    const improves = Number.isFinite(loss) && (best === null || (loss < best && Math.abs(loss - best) > earlyStoppingThreshold));
    this.earlyStoppingCounter = improves ? 0 : this.earlyStoppingCounter + 1;
    if (Number.isFinite(loss) && (best === null || loss < best)) {
      this.bestMetric = loss;
      this.bestMetricStep = this.step;
    }
    if (earlyStoppingPatience !== null && this.earlyStoppingCounter >= earlyStoppingPatience) {
      this.stoppedEarlyAt = this.step;
      this.progress?.note(
        `early stopping at step ${this.step}: ${this.earlyStoppingCounter} evaluations without the eval loss improving on ${this.bestMetric} (step ${this.bestMetricStep}) by more than ${earlyStoppingThreshold}`,
      );
    }
  }

  /** Writes checkpoint-<step>/ under outDir (and refreshes the plot); returns its path. */
  saveCheckpoint(): string {
    if (this.outDir === null) throw new TrainerError('saveCheckpoint: the trainer has no output folder');
    this.refuseAfterFailure();
    const dir = checkpointPath(this.outDir, this.step);
    const states = this.optimizer.stateList();
    const bestBefore = this.bestCheckpoint;
    // the best checkpoint is the one saved at the best evaluation's step (Transformers' best_model_checkpoint)
    if (this.bestMetricStep === this.step) this.bestCheckpoint = path.resolve(dir);
    try {
      saveTrainerCheckpoint(dir, {
        model: this.model,
        lora: this.lora,
        optimizerKind: this.options.optimizer,
        parameters: this.parameters,
        optimizerStates: states,
        tokenizerDir: this.tokenizerDir,
        state: this.state(),
      });
    } catch (error) {
      this.bestCheckpoint = bestBefore;
      throw error;
    }
    this.lastSavedCheckpoint = dir;
    this.progress?.note(`saved ${dir}`);
    // older checkpoints go only once the new one is complete
    if (this.options.saveTotalLimit !== null) {
      for (const deleted of rotateCheckpoints(this.outDir, this.options.saveTotalLimit, this.bestCheckpoint)) this.progress?.note(`deleted ${deleted} (save total limit ${this.options.saveTotalLimit})`);
    }
    this.writePlot();
    return dir;
  }

  /** What trainer_state.json records. */
  state(): TrainerState {
    const summary = summarizeLog(this.history);
    return {
      format: 'gemma2-ts trainer state',
      version: 2,
      step: this.step,
      epoch: this.data.epoch,
      tokensSeen: this.tokensSeen,
      elapsedSeconds: this.elapsed,
      data: this.data.position(),
      dropoutGenerator: this.lora?.generator.getState() ?? null,
      schedule: this.schedule,
      options: this.options,
      lora: this.lora?.config ?? null,
      source: this.source,
      logSummary: { ...summary, skippedSteps: this.skippedSteps },
      bestMetric: this.bestMetric,
      bestMetricStep: this.bestMetricStep,
      bestCheckpoint: this.bestCheckpoint,
      earlyStoppingCounter: this.earlyStoppingCounter,
      extra: this.extra,
    };
  }

  private logFile(): string | null {
    return this.outDir === null ? null : path.join(this.outDir, LOG_FILE);
  }

  private log(entry: LogEntry): void {
    this.history.push(entry);
    const file = this.logFile();
    if (file !== null) fs.appendFileSync(file, `${JSON.stringify(entry)}\n`);
    this.onLog?.(entry);
  }

  private writePlot(): string {
    const file = path.join(this.outDir!, PLOT_FILE);
    // a failed step's loss is a point too: non-finite, the plot marks it
    const train = this.history.flatMap((e) => (e.type === 'train' || e.type === 'failure' ? [[e.step, e.loss ?? Number.NaN] as const] : []));
    const evaluation = this.history.flatMap((e) => (e.type === 'eval' ? [[e.step, e.eval_loss ?? Number.NaN] as const] : []));
    writeFileDurably(file, lossCurveSvg(train, evaluation));
    return file;
  }
}
