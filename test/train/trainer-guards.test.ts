// The trainer's guards, each against the failure it prevents: a diverged step
// (non-finite loss or gradient norm) stops the run, saving nothing of it, or
// is skipped and counted; a non-finite parameter is never saved; the newest
// N checkpoints are kept, and the best; early stopping; a trainer_state.json
// that does not grow with the run; one run per folder (the lock); durable
// writes (fsync before rename); a checkpoint killed mid-save is never taken
// for one; clearing a run's files for --overwrite.

import { afterEach, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Generator } from '../../lib/tensor/random.ts';
import type { Tensor } from '../../lib/tensor/tensor.ts';
import { Dataset } from '../../lib/train/data.ts';
import { NonFiniteStepError, Trainer } from '../../lib/train/trainer.ts';
import type { TrainableModel } from '../../lib/train/task.ts';
import type { TrainerOptions } from '../../lib/train/trainer-options.ts';
import { LOG_FILE, PLOT_FILE } from '../../lib/train/train-log.ts';
import { TRAINER_STATE_FILE, readTrainerState } from '../../lib/train/checkpoint.ts';
import { LOCK_FILE, RunLockedError, acquireRunLock } from '../../lib/train/run-lock.ts';
import { clearRunFiles, listCheckpoints, rotateCheckpoints } from '../../lib/train/run-folder.ts';
import { commitFolderDurably, writeFileDurably } from '../../lib/train/atomic-write.ts';
import { MemoryEstimateError } from '../../lib/train/memory-estimate.ts';
import { tempDir } from '../temp-dir.ts';
import { tinyTrainConfig } from './tiny-train-config.ts';

const root = tempDir('trainer-guards');
let folders = 0;
const tmp = (label: string) => fs.mkdtempSync(path.join(root, `${label}-${folders++}-`));

const T = 8;
const config = tinyTrainConfig;

function blockData(rows: number, seed: number): Dataset {
  const g = new Generator(seed);
  const ids = Int32Array.from({ length: rows * T }, () => g.nextInt(32));
  return new Dataset(ids, ids.slice(), null, T, 'random blocks');
}

const parameter = (model: TrainableModel, name: string): Float32Array => model.namedParameters().find(([n]) => n === name)![1].contiguousData() as Float32Array;
const snapshot = (named: [string, Tensor][]) => new Map(named.map(([n, p]) => [n, Float32Array.from(p.contiguousData() as Float32Array)]));
const logLines = (out: string) =>
  fs
    .readFileSync(path.join(out, LOG_FILE), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));

const trainer = (out: string | null, options: Partial<TrainerOptions>, evalData = false) =>
  new Trainer({ model: new Gemma2ForCausalLM(config, { seed: 1 }), train: blockData(4, 2), eval: evalData ? blockData(2, 3) : null, outDir: out, options: { batchSize: 2, lr: 1e-2, ...options } });

describe('a non-finite step', () => {
  test('a NaN loss stops the run with an error naming the step; the last good checkpoint stays, nothing of the bad step is saved, the log says why', () => {
    const out = tmp('nan');
    const t = trainer(out, { steps: 5, saveEvery: 1 });
    t.train(2);
    const good = fs.readFileSync(path.join(out, 'checkpoint-2', 'model.safetensors'));
    parameter(t.model, 'model.layers.0.input_layernorm.weight').fill(1e37); // the forward overflows: loss NaN
    let error: unknown;
    try {
      t.train();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NonFiniteStepError);
    expect((error as NonFiniteStepError).message).toBe(
      `step 3: the loss is NaN; the run diverged and is stopped. The last good checkpoint is ${path.join(out, 'checkpoint-2')}; nothing of step 3 is saved. ` +
        'Lower the learning rate or clip the gradient norm; skipNonFinite (--skip-nonfinite-steps) skips such steps instead',
    );
    expect(listCheckpoints(out)).toEqual([1, 2]);
    expect(fs.readdirSync(out).filter((f) => f.includes('partial'))).toEqual([]);
    expect(fs.readFileSync(path.join(out, 'checkpoint-2', 'model.safetensors')).equals(good)).toBe(true);
    const last = logLines(out).at(-1);
    expect(last).toMatchObject({ type: 'failure', step: 3, quantity: 'loss', value: 'NaN', loss: null });
    expect(fs.readFileSync(path.join(out, PLOT_FILE), 'utf8')).toContain('train loss: 1 non-finite value (NaN or infinite) at x = 3');
    expect(fs.existsSync(path.join(out, LOCK_FILE))).toBe(false); // released on the error too    // the data order moved past step 3: the trainer neither steps nor saves any more
    expect(() => t.trainStep()).toThrow(`the run stopped at step 3 (not finite); resume from ${path.join(out, 'checkpoint-2')} instead of going on`);
    expect(() => t.saveCheckpoint()).toThrow('the run stopped at step 3');
  });

  test('an infinite gradient norm with a finite loss stops the run too, naming the gradient norm', () => {
    const t = trainer(null, { steps: 3 });
    parameter(t.model, 'model.norm.weight').fill(1e35); // logits saturate in the softcap (finite loss), the gradient's squares overflow
    expect(() => t.trainStep()).toThrow(/^step 1: the gradient norm is Infinity \(loss \d+\.\d+\); the run diverged and is stopped\. No checkpoint was saved before it/);
  });

  test('skipNonFinite: the step updates nothing, is counted and logged, and the run goes on', () => {
    const out = tmp('skip');
    const t = trainer(out, { steps: 4, skipNonFinite: true });
    t.train(1);
    const norm = parameter(t.model, 'model.layers.0.input_layernorm.weight');
    const kept = Float32Array.from(norm);
    norm.fill(1e37); // the forward overflows: loss NaN
    const before = snapshot(t.model.namedParameters());
    const skipped = t.trainStep(); // step 2
    expect(skipped.skipped).toBe('loss is NaN');
    expect(snapshot(t.model.namedParameters())).toEqual(before); // no update, no weight decay either
    expect(t.optimizer.stateList().every((s) => s !== null && (s as { step: number }).step === 1)).toBe(true);
    norm.set(kept);
    const result = t.train();
    expect(result.skippedSteps).toBe(1);
    expect(result.step).toBe(4);
    const lines = logLines(out).filter((l) => l.type === 'train');
    expect(lines.map((l) => l.skipped ?? null)).toEqual([null, 'loss is NaN', null, null]);
    expect(lines[1].loss).toBeNull(); // JSON's spelling of NaN
    const state = readTrainerState(path.join(out, 'checkpoint-4'));
    expect(state.logSummary.skippedSteps).toBe(1);
    expect(state.logSummary.recentSkippedSteps).toEqual([2]);
  });

  test('a checkpoint with a non-finite parameter is refused, naming the tensor; no folder is left', () => {
    const out = tmp('refuse-save');
    const t = trainer(out, { steps: 2 });
    t.trainStep();
    parameter(t.model, 'model.layers.1.mlp.up_proj.weight')[5] = Number.POSITIVE_INFINITY;
    expect(() => t.saveCheckpoint()).toThrow(
      `refusing to save ${path.join(out, 'checkpoint-1')}: parameter model.layers.1.mlp.up_proj.weight [32,16] holds Infinity at element 5; a diverged model is not saved`,
    );
    expect(fs.readdirSync(out)).toEqual([LOG_FILE]);
  });
});

describe('the memory check when the trainer is made', () => {
  test('a batch whose activations exceed the free memory is refused before any step; memoryCheck: false lets it through', () => {
    // 1e7 rows of 8 tokens: about 260 GB of activations on this tiny model, more than any machine this runs on
    const make = (memoryCheck?: boolean) => new Trainer({ model: new Gemma2ForCausalLM(config, { seed: 1 }), train: blockData(4, 2), options: { batchSize: 1e7 }, memoryCheck });
    expect(() => make()).toThrow(MemoryEstimateError);
    expect(() => make()).toThrow(/^training needs about 261\.12 GB: .*activations at 10000000 x 8 tokens 261\.12 GB \([\d.]+ kB of it already allocated\); that is more than .* the trainer's memoryCheck: false to try anyway$/);
    expect(make(false).step).toBe(0);
  });
});

describe('which checkpoints are kept', () => {
  /** A trainer whose evaluations return these losses in turn (the eval itself is not what is tested here). */
  function scripted(out: string, losses: number[], options: Partial<TrainerOptions>): Trainer {
    const t = trainer(out, { steps: losses.length, evalEvery: 1, saveEvery: 1, ...options }, true);
    t.evaluate = () => ({ loss: losses.shift()!, tokens: 1, metrics: null });
    return t;
  }

  test('saveTotalLimit keeps the newest N and the best (lowest eval loss), recorded in trainer_state.json', () => {
    const out = tmp('limit');
    const result = scripted(out, [3, 2, 2.5, 2.4, 2.6, 2.7], { saveTotalLimit: 2 }).train();
    expect(result.checkpoints).toHaveLength(6);
    expect(listCheckpoints(out)).toEqual([2, 6]); // the best (step 2) takes the place of the older of the newest two
    expect(result.bestCheckpoint).toBe(path.join(out, 'checkpoint-2'));
    expect(result.bestMetric).toBe(2);
    const state = readTrainerState(path.join(out, 'checkpoint-6'));
    expect([state.bestCheckpoint, state.bestMetric, state.bestMetricStep]).toEqual([path.join(out, 'checkpoint-2'), 2, 2]);

    const newest = tmp('limit-newest');
    scripted(newest, [3, 2, 1, 0.5], { saveTotalLimit: 2 }).train();
    expect(listCheckpoints(newest)).toEqual([3, 4]);
  });

  test('rotation as Transformers: limit 1 with an older best keeps both; a half-written folder is not a checkpoint', () => {
    const out = tmp('rotate');
    for (const step of [1, 2, 3, 4]) {
      fs.mkdirSync(path.join(out, `checkpoint-${step}`));
      fs.writeFileSync(path.join(out, `checkpoint-${step}`, TRAINER_STATE_FILE), '{}');
    }
    fs.mkdirSync(path.join(out, 'checkpoint-5.partial'));
    fs.mkdirSync(path.join(out, 'checkpoint-6')); // killed before its trainer_state.json: not complete
    expect(listCheckpoints(out)).toEqual([1, 2, 3, 4]);
    expect(rotateCheckpoints(out, 1, path.join(out, 'checkpoint-2'))).toEqual([1, 3].map((s) => path.join(out, `checkpoint-${s}`)));
    expect(listCheckpoints(out)).toEqual([2, 4]);
  });

  test('early stopping: patience evaluations without improving by more than the threshold end the run, with a final checkpoint', () => {
    const out = tmp('early');
    const t = scripted(out, [3, 2, 2.5, 2.4, 1, 1], { earlyStoppingPatience: 2, saveEvery: 0 });
    const result = t.train();
    expect(result.stoppedEarlyAt).toBe(4);
    expect(result.step).toBe(4);
    expect(result.checkpoints).toEqual([path.join(out, 'checkpoint-4')]);
    expect(readTrainerState(path.join(out, 'checkpoint-4')).earlyStoppingCounter).toBe(2);

    // better, but not by more than the threshold: it counts as no improvement (the best metric still moves)
    const threshold = scripted(tmp('threshold'), [3, 2.95, 2.9, 2.85], { earlyStoppingPatience: 2, earlyStoppingThreshold: 0.1 });
    const r = threshold.train();
    expect(r.stoppedEarlyAt).toBe(3);
    expect(r.bestMetric).toBe(2.9);
    // a resumed run carries on counting from the checkpoint, with its best
    const resumedOut = tmp('early-resume');
    scripted(resumedOut, [3, 2, 2.5], { steps: 6, earlyStoppingPatience: 2, saveEvery: 1 }).train(3);
    const resumed = Trainer.resume(path.join(resumedOut, 'checkpoint-3'), { train: blockData(4, 2), eval: blockData(2, 3), outDir: resumedOut });
    expect([resumed.bestMetric, resumed.bestMetricStep, resumed.bestCheckpoint, resumed.earlyStoppingCounter]).toEqual([2, 2, path.join(resumedOut, 'checkpoint-2'), 1]);
    resumed.evaluate = () => ({ loss: 2.2, tokens: 1, metrics: null });
    expect(resumed.train().stoppedEarlyAt).toBe(4);
    // without early stopping the same losses run to the end
    expect(scripted(tmp('no-early'), [3, 2.95, 2.9, 2.85], {}).train().stoppedEarlyAt).toBeNull();
  });
});

describe('trainer_state.json', () => {
  test('does not grow with the number of steps: the log history stays in the log file', () => {
    const out = tmp('bounded');
    const t = trainer(out, { steps: 60, saveEvery: 10 });
    t.train();
    const size = (step: number) => fs.statSync(path.join(out, `checkpoint-${step}`, TRAINER_STATE_FILE)).size;
    expect(Math.abs(size(60) - size(10))).toBeLessThan(64); // digits of counters may differ, nothing per step
    expect(readTrainerState(path.join(out, 'checkpoint-60')).logSummary.trainSteps).toBe(60);
    expect(logLines(out)).toHaveLength(60);
  });
});

describe('one run per output folder', () => {
  afterEach(() => vi.restoreAllMocks());

  test('a lock held by a live process refuses the run, naming the lock and its pid; a stale one is taken over; released after the run', () => {
    const out = tmp('lock');
    const lockFile = path.join(out, LOCK_FILE);
    // a live process on this host (vitest's parent) holds it
    fs.writeFileSync(lockFile, JSON.stringify({ pid: process.ppid, hostname: os.hostname(), started: '2026-01-01T00:00:00.000Z' }));
    const t = trainer(out, { steps: 1 });
    expect(() => t.train()).toThrow(RunLockedError);
    expect(() => t.train()).toThrow(`${out} is in use by another training run (${lockFile}: pid ${process.ppid} on ${os.hostname()}, started 2026-01-01T00:00:00.000Z)`);
    expect(fs.existsSync(path.join(out, LOG_FILE))).toBe(false);
    // another host's lock cannot be checked from here: refused, with how to clear it
    fs.writeFileSync(lockFile, JSON.stringify({ pid: 1, hostname: 'elsewhere', started: 'then' }));
    expect(() => t.train()).toThrow(`(if that run is over, delete ${lockFile})`);
    // a process that has exited leaves a stale lock: taken over and reported
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    fs.writeFileSync(lockFile, JSON.stringify({ pid: Number(dead), hostname: os.hostname(), started: 'then' }));
    expect(t.train().step).toBe(1);
    expect(t.notes).toEqual([`took over a stale lock (pid ${dead} on ${os.hostname()}, started then: no such process); that run ended without releasing it`]);
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  test('the lock is exclusive: created with the wx flag, re-entrant within the process', () => {
    const out = tmp('lock-wx');
    const open = vi.spyOn(fs, 'writeFileSync');
    const a = acquireRunLock(out);
    expect(open.mock.calls.find(([file]) => file === path.join(out, LOCK_FILE))?.[2]).toEqual({ flag: 'wx' });
    const b = acquireRunLock(out); // the CLI and its trainer both hold it
    b.release();
    expect(fs.existsSync(a.file)).toBe(true);
    a.release();
    expect(fs.existsSync(a.file)).toBe(false);
  });
});

describe('durable writes', () => {
  afterEach(() => vi.restoreAllMocks());

  /** The fsync, rename and open calls in order, with the paths they were on. */
  function recordCalls() {
    const calls: string[] = [];
    const fdPaths = new Map<number, string>();
    const open = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation(((p: string, ...rest: unknown[]) => {
      const fd = (open as (...a: unknown[]) => number)(p, ...rest);
      fdPaths.set(fd, String(p));
      return fd;
    }) as typeof fs.openSync);
    const fsync = fs.fsyncSync;
    vi.spyOn(fs, 'fsyncSync').mockImplementation((fd) => {
      calls.push(`fsync ${fdPaths.get(fd as number)}`);
      fsync(fd);
    });
    const rename = fs.renameSync;
    vi.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      calls.push(`rename ${from} -> ${to}`);
      rename(from, to);
    });
    return calls;
  }

  test('a file: its temporary copy fsynced, renamed into place, then its folder fsynced', () => {
    const dir = tmp('durable-file');
    const calls = recordCalls();
    writeFileDurably(path.join(dir, 'a.svg'), 'x');
    const temporary = path.join(dir, `a.svg.tmp-${process.pid}`);
    expect(calls).toEqual([`fsync ${temporary}`, `rename ${temporary} -> ${path.join(dir, 'a.svg')}`, `fsync ${dir}`]);
    expect(fs.readFileSync(path.join(dir, 'a.svg'), 'utf8')).toBe('x');
  });

  test('a checkpoint: every file and the folder fsynced before the rename, the output folder after it', () => {
    const out = tmp('durable-checkpoint');
    const t = trainer(out, { steps: 1 });
    t.trainStep();
    const calls = recordCalls();
    const dir = t.saveCheckpoint();
    const partial = `${dir}.partial`;
    const renameAt = calls.indexOf(`rename ${partial} -> ${dir}`);
    expect(renameAt).toBeGreaterThan(0);
    const before = calls.slice(0, renameAt);
    for (const f of fs.readdirSync(dir)) expect(before, f).toContain(`fsync ${path.join(partial, f)}`);
    expect(before).toContain(`fsync ${partial}`);
    expect(calls.slice(renameAt + 1)).toContain(`fsync ${out}`);
    // the plot too
    expect(calls).toContain(`rename ${path.join(out, `${PLOT_FILE}.tmp-${process.pid}`)} -> ${path.join(out, PLOT_FILE)}`);
  });

  test('a save killed before the rename leaves no checkpoint-<step>, only its .partial, which is not a checkpoint', () => {
    const out = tmp('killed-save');
    const t = trainer(out, { steps: 1 });
    t.trainStep();
    vi.spyOn(fs, 'renameSync').mockImplementation(() => {
      throw new Error('killed');
    });
    expect(() => t.saveCheckpoint()).toThrow('killed');
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoint-1.partial', LOG_FILE]);
    expect(listCheckpoints(out)).toEqual([]);
    expect(() => commitFolderDurably(path.join(out, 'checkpoint-1.partial'), path.join(out, 'checkpoint-1'))).toThrow('killed');
    vi.restoreAllMocks();
    // even a half-written folder that got as far as its trainer_state.json is not resumed from
    fs.writeFileSync(path.join(out, 'checkpoint-1.partial', TRAINER_STATE_FILE), '{}');
    expect(() => readTrainerState(path.join(out, 'checkpoint-1.partial'))).toThrow('checkpoint-1.partial: a checkpoint still being written when its run stopped, not a checkpoint');
  });
});

describe('clearing a run (--overwrite)', () => {
  test('removes the log, the plot and the checkpoints, half-written ones included, and nothing else', () => {
    const out = tmp('clear');
    for (const f of [LOG_FILE, PLOT_FILE, 'notes.txt', LOCK_FILE]) fs.writeFileSync(path.join(out, f), '');
    for (const d of ['checkpoint-3', 'checkpoint-4.partial', 'checkpoints-old', 'data']) fs.mkdirSync(path.join(out, d));
    expect(clearRunFiles(out)).toEqual(['checkpoint-3', 'checkpoint-4.partial', PLOT_FILE, LOG_FILE].sort());
    expect(fs.readdirSync(out).sort()).toEqual([LOCK_FILE, 'checkpoints-old', 'data', 'notes.txt']);
  });
});
