// The training loop on a tiny random Gemma2: gradient accumulation normalised
// over every counted token of the step, learning on a memorisation task, eval
// loss, LoRA against full fine-tuning, weight-decay groups, the JSONL log and
// checkpoint layout, the progress bar, and resuming from a checkpoint
// bit-identically (full fine-tuning with AdamW and with SGD momentum, LoRA
// with dropout).

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { LoraModel, type LoraConfig } from '../../lib/train/lora.ts';
import { Dataset, IGNORE_INDEX, makeBatch } from '../../lib/train/data.ts';
import { Trainer } from '../../lib/train/trainer.ts';
import type { TrainerOptions } from '../../lib/train/trainer-options.ts';
import { type LogEntry, type TrainLogEntry, LOG_FILE, PLOT_FILE } from '../../lib/train/train-log.ts';
import { OPTIMIZER_FILE, TRAINER_STATE_FILE, readTrainerState } from '../../lib/train/checkpoint.ts';
import { ProgressBar } from '../../lib/train/progress.ts';
import { randomModel } from '../model/arbitraries.ts';
import { SafetensorsFile } from '../../lib/io/safetensors.ts';
import { MemoryModelFolder } from '../../lib/io/memory-folder.ts';
import { tempDir } from '../temp-dir.ts';
import { TINY_TRAIN_VOCAB, tinyTrainConfig } from './tiny-train-config.ts';

const tmp = (label: string) => tempDir(`train-${label}`);

const VOCAB = TINY_TRAIN_VOCAB;
const T = 8;
const config = tinyTrainConfig;

/** Transformers' init from a seed (normal(0, 0.02)): the loss starts near ln(vocab). */
const freshModel = (seed = 1) => new Gemma2ForCausalLM(config, { seed });

function snapshot(named: [string, Tensor][]): Map<string, Float32Array> {
  return new Map(named.map(([name, p]) => [name, Float32Array.from(p.contiguousData() as Float32Array)]));
}

/** Rows of random ids with `lengths[i]` real tokens each, right-padded with 0 (labels -100, mask 0). */
function raggedData(lengths: number[], seed: number): Dataset {
  const g = new Generator(seed);
  const ids = new Int32Array(lengths.length * T);
  const labels = new Int32Array(lengths.length * T).fill(IGNORE_INDEX);
  const mask = new Int32Array(lengths.length * T);
  lengths.forEach((length, r) => {
    for (let t = 0; t < length; t++) {
      ids[r * T + t] = 1 + g.nextInt(VOCAB - 1);
      labels[r * T + t] = ids[r * T + t];
      mask[r * T + t] = 1;
    }
  });
  return new Dataset(ids, labels, mask, T, 'ragged rows');
}

/** Full rows of random ids (no padding). */
function blockData(rows: number, seed: number): Dataset {
  const g = new Generator(seed);
  const ids = Int32Array.from({ length: rows * T }, () => g.nextInt(VOCAB));
  return new Dataset(ids, ids.slice(), null, T, 'random blocks');
}

const trainLosses = (history: LogEntry[]) => history.filter((e): e is TrainLogEntry => e.type === 'train').map((e) => e.loss);
const evalLosses = (history: LogEntry[]) => history.flatMap((e) => (e.type === 'eval' ? [[e.step, e.eval_loss]] : []));

describe('gradient accumulation', () => {
  test('4 micro-batches of 2 rows equal one batch of 8 rows, the loss normalised over all counted tokens', () => {
    // Ragged rows: counted tokens per micro-batch differ, so normalising each micro-batch by its own count would not match.
    const data = raggedData([8, 2, 5, 3, 8, 4, 2, 7], 5);
    // SGD without momentum: the update is lr * gradient, so any error in the gradient's scale shows in the weights
    // (Adam's first step would hide it: m / sqrt(v) does not depend on the gradient's scale).
    const common: Partial<TrainerOptions> = { steps: 2, optimizer: 'sgd', lr: 0.5, schedule: 'constant', maxGradNorm: null, seed: 3 };
    // Weights at std 0.5 (not Transformers' 0.02): per-token losses then differ widely, and so do the ways of averaging them.
    const model = () => randomModel(config, 8);
    const whole = new Trainer({ model: model(), train: data, options: { ...common, batchSize: 8, gradAccum: 1 } });
    const split = new Trainer({ model: model(), train: data, options: { ...common, batchSize: 2, gradAccum: 4 } });

    // The per-micro-batch means of the first step average to something else than the token mean: the test can tell them apart.
    const rows = new Trainer({ model: model(), train: data, options: { ...common, batchSize: 2 } }).data.nextRows(8);
    const microMeans = [0, 2, 4, 6].map((i) => {
      const b = makeBatch(data, rows.slice(i, i + 2));
      return noGrad(() => model().forward({ inputIds: b.inputIds, labels: b.labels, attentionMask: b.attentionMask! }).loss!.item());
    });
    const meanOfMeans = microMeans.reduce((a, b) => a + b, 0) / 4;

    const a = [whole.trainStep(), whole.trainStep()];
    const b = [split.trainStep(), split.trainStep()];
    expect(Math.abs(meanOfMeans - a[0].loss)).toBeGreaterThan(1e-3);
    for (let i = 0; i < 2; i++) {
      expect(b[i].loss_tokens).toBe(a[i].loss_tokens);
      expect(b[i].tokens).toBe(a[i].tokens);
      expect(b[i].loss).toBeCloseTo(a[i].loss, 5);
      expect(b[i].grad_norm).toBeCloseTo(a[i].grad_norm, 5);
    }
    const wa = snapshot(whole.model.namedParameters());
    const wb = snapshot(split.model.namedParameters());
    const start = snapshot(model().namedParameters());
    let moved = 0;
    for (const [name, va] of wa) {
      const vb = wb.get(name)!;
      const v0 = start.get(name)!;
      for (let i = 0; i < va.length; i++) {
        expect(Math.abs(vb[i] - va[i]), `${name}[${i}]`).toBeLessThan(2e-6 + 1e-4 * Math.abs(va[i] - v0[i]));
        moved = Math.max(moved, Math.abs(va[i] - v0[i]));
      }
    }
    expect(moved).toBeGreaterThan(1e-3); // the steps really changed the weights
  });
});

describe('training', () => {
  test('the loss falls on a memorisation task; the log has one line per step and eval lines', () => {
    const out = tmp('memorise');
    const train = blockData(2, 11);
    const logged: LogEntry[] = [];
    const trainer = new Trainer({
      model: freshModel(),
      train,
      eval: train,
      outDir: out,
      options: { steps: 30, batchSize: 2, lr: 3e-2, schedule: 'constant', evalEvery: 10 },
      onLog: (e) => logged.push(e),
    });
    const result = trainer.train();
    const losses = trainLosses(logged);
    expect(losses).toHaveLength(30);
    expect(losses[29]).toBeLessThan(0.25 * losses[0]);
    expect(losses[0]).toBeCloseTo(Math.log(VOCAB), 0);
    const evals = evalLosses(logged);
    expect(evals.map(([step]) => step)).toEqual([10, 20, 30]);
    expect(evals[2][1]).toBeLessThan(evals[0][1]);

    // The JSONL log: exactly the entries, one per line, with every field a finite number.
    const lines = fs.readFileSync(path.join(out, LOG_FILE), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(logged);
    const trainLines = lines.filter((l) => l.type === 'train');
    expect(trainLines.map((l) => l.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    for (const l of trainLines) {
      expect(Object.keys(l).sort()).toEqual(['elapsed', 'epoch', 'grad_norm', 'loss', 'loss_tokens', 'lr', 'step', 'tokens', 'tokens_per_second', 'type']);
      for (const key of ['loss', 'lr', 'grad_norm', 'tokens', 'tokens_per_second', 'elapsed', 'epoch']) expect(Number.isFinite(l[key]), key).toBe(true);
      expect(l.lr).toBe(3e-2);
      expect(l.tokens).toBe(2 * T);
      expect(l.loss_tokens).toBe(2 * (T - 1));
      expect(l.epoch).toBe(l.step); // two rows, batches of two: one epoch per step
    }
    expect(lines.filter((l) => l.type === 'eval').map((l) => Object.keys(l).sort())).toEqual(Array(3).fill(['elapsed', 'eval_loss', 'eval_tokens', 'step', 'type']));
    expect(result.checkpoints).toEqual([path.join(out, 'checkpoint-30')]);
    expect(fs.readFileSync(path.join(out, PLOT_FILE), 'utf8').match(/<polyline/g)).toHaveLength(2);
  });

  test('the learning rate follows the schedule: linear warmup, then cosine decay to 0', () => {
    const trainer = new Trainer({ model: freshModel(), train: blockData(2, 1), options: { steps: 6, batchSize: 1, lr: 0.1, schedule: 'cosine', warmupSteps: 2, maxGradNorm: 1e-3 } });
    const entries = Array.from({ length: 6 }, () => trainer.trainStep());
    const expected = [0, 0.05, 0.1, 0.1 * 0.5 * (1 + Math.cos(Math.PI / 4)), 0.05, 0.1 * 0.5 * (1 + Math.cos((3 * Math.PI) / 4))];
    entries.forEach((e, i) => expect(e.lr).toBeCloseTo(expected[i], 12));
    expect(trainer.optimizer.groups.every((g) => g.options.lr === entries[5].lr)).toBe(true);
    // The grad norm is logged before clipping (clipping at 1e-3 leaves it far above).
    expect(entries.every((e) => e.grad_norm > 1e-2)).toBe(true);
  });

  test('eval loss is the mean over every counted token of the eval rows, whatever the batch size', () => {
    const evalData = raggedData([8, 3, 6], 21);
    const model = randomModel(config, 8); // per-token losses that differ: a mean of batch means would not match
    const trainer = new Trainer({ model, train: blockData(2, 1), eval: evalData, options: { batchSize: 2 } });
    const all = makeBatch(evalData, [0, 1, 2]);
    const expected = noGrad(() => model.forward({ inputIds: all.inputIds, labels: all.labels, attentionMask: all.attentionMask! }).loss!.item());
    const result = trainer.evaluate();
    expect(result.tokens).toBe(7 + 2 + 5);
    expect(result.loss).toBeCloseTo(expected, 5);
  });

  test('weight decay skips norm weights: two parameter groups', () => {
    const trainer = new Trainer({ model: freshModel(), train: blockData(2, 1), options: { weightDecay: 0.05 } });
    const [decay, noDecay] = trainer.optimizer.groups;
    expect(decay.options.weightDecay).toBe(0.05);
    expect(noDecay.options.weightDecay).toBe(0);
    const names = trainer.parameters.map(([name]) => name);
    expect(names.slice(decay.params.length).every((n) => n.endsWith('norm.weight'))).toBe(true);
    expect(names.slice(0, decay.params.length).some((n) => n.endsWith('norm.weight'))).toBe(false);
    expect(names).toContain('model.embed_tokens.weight');
    expect(noDecay.params).toHaveLength(2 * 4 + 1);
  });
});

const loraConfig: LoraConfig = { r: 2, alpha: 4, dropout: 0.25, targetModules: ['q_proj', 'v_proj', 'down_proj'] };

test('evalOnStart: the starting model is evaluated once, at step 0, before any update; it is not the best checkpoint and a resumed run does not repeat it', () => {
  const out = tmp('eval-on-start');
  const train = blockData(2, 11);
  const start = new Trainer({ model: freshModel(), train, eval: train, options: { steps: 1, batchSize: 2 } }).evaluate();
  const logged: LogEntry[] = [];
  const trainer = new Trainer({ model: freshModel(), train, eval: train, outDir: out, options: { steps: 4, batchSize: 2, lr: 3e-2, evalEvery: 2, saveEvery: 2, evalOnStart: true }, onLog: (e) => logged.push(e) });
  trainer.train(2);
  expect(evalLosses(logged)).toEqual([[0, start.loss], [2, expect.any(Number)]]);
  expect(logged[0]).toMatchObject({ type: 'eval', step: 0, eval_loss: start.loss });
  expect(trainer.bestMetricStep).toBe(2);
  const resumed = Trainer.resume(path.join(out, 'checkpoint-2'), { train, eval: train, outDir: out, onLog: (e) => logged.push(e) });
  resumed.train();
  expect(evalLosses(logged).map(([step]) => step)).toEqual([0, 2, 4]);
  // off (the default): no eval before the first step
  const quiet: LogEntry[] = [];
  new Trainer({ model: freshModel(), train, eval: train, options: { steps: 2, batchSize: 2, evalEvery: 2 }, onLog: (e) => quiet.push(e) }).train();
  expect(evalLosses(quiet).map(([step]) => step)).toEqual([2]);
});

describe('LoRA and full fine-tuning', () => {
  test('LoRA trains only the adapters: base weights bit-identical; full fine-tuning changes every weight', () => {
    const model = freshModel();
    const base = snapshot(model.namedParameters());
    const lora = new LoraModel(model, loraConfig, 7);
    const adaptersBefore = snapshot(lora.trainableParameters());
    const trainer = new Trainer({ model, lora, train: blockData(4, 2), options: { steps: 3, batchSize: 2, lr: 1e-2 } });
    expect(trainer.parameters.map(([n]) => n)).toEqual(lora.trainableParameters().map(([n]) => n));
    trainer.train();
    expect(snapshot(model.namedParameters())).toEqual(base);
    const adaptersAfter = snapshot(lora.trainableParameters());
    for (const [name, before] of adaptersBefore) expect(adaptersAfter.get(name), name).not.toEqual(before);

    const full = new Trainer({ model: freshModel(), train: blockData(4, 2), options: { steps: 3, batchSize: 2, lr: 1e-2 } });
    full.train();
    const after = snapshot(full.model.namedParameters());
    for (const [name, before] of base) expect(after.get(name), name).not.toEqual(before);
  });

  test('a bf16 base kept in bf16: LoRA trains over it with the float32 base\'s losses and adapters bit for bit; full fine-tuning and merge refuse it', () => {
    const folder = new MemoryModelFolder();
    randomModel(config, 12).savePretrained(folder, { dtype: 'BF16' });
    const kept = Gemma2ForCausalLM.fromPretrained(folder); // the weight matrices bf16, as stored
    const widened = Gemma2ForCausalLM.fromPretrained(folder, { weightDtype: 'float32' });
    expect(kept.model.layers[0].mlp.downProj.weight.dtype).toBe('bfloat16');
    const run = (model: Gemma2ForCausalLM) => {
      const lora = new LoraModel(model, loraConfig, 7);
      const trainer = new Trainer({ model, lora, train: blockData(4, 2), options: { steps: 3, batchSize: 2, lr: 1e-2 } });
      trainer.train();
      return { losses: trainLosses(trainer.history), adapters: snapshot(lora.trainableParameters()), lora };
    };
    const a = run(kept);
    const b = run(widened);
    expect(a.losses).toEqual(b.losses);
    expect(a.adapters).toEqual(b.adapters);
    expect(() => a.lora.merge()).toThrow(/LoRA merge: model\.layers\.0\.self_attn\.q_proj\.weight is bfloat16 .* weightDtype: 'float32'/);
    expect(() => new Trainer({ model: Gemma2ForCausalLM.fromPretrained(folder), train: blockData(4, 2), options: { steps: 1, batchSize: 2 } })).toThrow(
      /full fine-tuning needs float32 weights, but 15 are bfloat16 \(model\.embed_tokens\.weight, \.\.\.\): load the model with fromPretrained\(dir, \{ weightDtype: 'float32' \}\)/,
    );
  });

  test('LoRA dropout is active while training and off in eval', () => {
    const model = freshModel();
    const lora = new LoraModel(model, { ...loraConfig, dropout: 0.5 }, 7);
    const trainer = new Trainer({ model, lora, train: blockData(2, 2), eval: blockData(2, 3), options: { steps: 2, batchSize: 2, lr: 0.1 } });
    trainer.trainStep(); // B is no longer zero: the adapters (and their dropout) change the output
    const state = JSON.stringify(lora.generator.getState());
    const first = trainer.evaluate();
    expect(trainer.evaluate()).toEqual(first);
    expect(JSON.stringify(lora.generator.getState())).toBe(state); // eval drew no dropout mask
    expect(lora.training).toBe(true);
    trainer.trainStep();
    expect(JSON.stringify(lora.generator.getState())).not.toBe(state);
  });
});

describe('checkpoints and resuming', () => {
  /** Trains `steps` straight, and steps/2 + checkpoint + a fresh restart + the rest; returns both. */
  function straightAndResumed(
    options: Partial<TrainerOptions>,
    build: () => { model: Gemma2ForCausalLM; lora: LoraModel | null },
    baseModel?: () => Gemma2ForCausalLM,
    restart: (t: Trainer) => void = () => {},
  ) {
    const train = () => raggedData([8, 5, 8, 3, 7, 8], 31); // rebuilt for each run, as a new process would
    const evalData = () => blockData(2, 32);
    const straight = new Trainer({ ...build(), train: train(), eval: evalData(), options, outDir: tmp('straight') });
    straight.train();

    const out = tmp('resumed');
    const first = new Trainer({ ...build(), train: train(), eval: evalData(), options, outDir: out });
    const half = options.steps! / 2;
    expect(first.train(half).checkpoints).toEqual([path.join(out, `checkpoint-${half}`)]);
    const resumed = Trainer.resume(path.join(out, `checkpoint-${half}`), { train: train(), eval: evalData(), outDir: out, baseModel });
    restart(resumed);
    expect(resumed.model).not.toBe(first.model);
    resumed.train();
    return { straight, resumed, out };
  }

  function expectIdentical(straight: Trainer, resumed: Trainer): void {
    expect(trainLosses(resumed.history)).toEqual(trainLosses(straight.history));
    expect(evalLosses(resumed.history)).toEqual(evalLosses(straight.history));
    expect(snapshot(resumed.model.namedParameters())).toEqual(snapshot(straight.model.namedParameters()));
    if (straight.lora !== null) expect(snapshot(resumed.lora!.trainableParameters())).toEqual(snapshot(straight.lora.trainableParameters()));
  }

  const fullOptions: Partial<TrainerOptions> = { steps: 6, batchSize: 2, gradAccum: 2, lr: 2e-2, schedule: 'cosine', warmupSteps: 2, maxGradNorm: 0.5, evalEvery: 2, seed: 4 };

  test('full fine-tuning with AdamW resumes bit-identically; the checkpoint folder has the documented layout', () => {
    const { straight, resumed, out } = straightAndResumed(fullOptions, () => ({ model: freshModel(), lora: null }));
    expectIdentical(straight, resumed);
    // 6 rows read 4 per step: epochs cross mid-step, so the data position really is restored mid-epoch.
    expect(straight.data.epoch).toBe(4);

    const dir = path.join(out, 'checkpoint-3');
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors', OPTIMIZER_FILE, TRAINER_STATE_FILE]);
    expect(fs.existsSync(`${dir}.partial`)).toBe(false);
    const state = readTrainerState(dir);
    expect(state.step).toBe(3);
    expect(state.epoch).toBe(2);
    expect(state.schedule).toEqual({ kind: 'cosine', warmupSteps: 2, totalSteps: 6 });
    expect(state.options.gradAccum).toBe(2);
    // a bounded summary of the log, not its history (the log file has that)
    expect(state.logHistory).toBeUndefined();
    expect(state.logSummary.trainSteps).toBe(3);
    expect(state.logSummary.lastTrain!.loss).toBe(trainLosses(straight.history)[2]);
    const optimizer = SafetensorsFile.open(path.join(dir, OPTIMIZER_FILE));
    expect(optimizer.metadata.optimizer).toBe('adamw');
    expect(optimizer.names()).toContain('model.embed_tokens.weight.exp_avg_sq');
    expect(optimizer.readInt32('model.layers.1.mlp.down_proj.weight.step')).toEqual(Int32Array.of(3));
    expect(optimizer.names()).toHaveLength(3 * straight.parameters.length);
    optimizer.close();
    // The log of the resumed run is the straight run's, line for line (timings aside).
    const strip = (file: string) =>
      fs
        .readFileSync(file, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => {
          const { elapsed, tokens_per_second, ...rest } = JSON.parse(l);
          return rest;
        });
    expect(strip(path.join(out, LOG_FILE))).toEqual(strip(path.join(straight.outDir!, LOG_FILE)));
    expect(fs.existsSync(path.join(out, 'checkpoint-6', 'model.safetensors'))).toBe(true);
  });

  test('a restart without the optimizer state does not match: the comparison above can fail', () => {
    const { straight, resumed } = straightAndResumed(fullOptions, () => ({ model: freshModel(), lora: null }), undefined, (t) =>
      (t.optimizer as { loadStateList(s: null[]): void }).loadStateList(t.parameters.map(() => null)),
    );
    // Step 4's loss is computed before step 4's update, from the weights of step 3: the same. Step 5's is not.
    expect(trainLosses(resumed.history).slice(0, 4)).toEqual(trainLosses(straight.history).slice(0, 4));
    expect(trainLosses(resumed.history)[4]).not.toBe(trainLosses(straight.history)[4]);
  });

  test('full fine-tuning with SGD momentum resumes bit-identically', () => {
    const options: Partial<TrainerOptions> = { steps: 4, batchSize: 4, optimizer: 'sgd', momentum: 0.9, weightDecay: 0.01, lr: 0.05, schedule: 'linear', seed: 9 };
    const { straight, resumed, out } = straightAndResumed(options, () => ({ model: freshModel(), lora: null }));
    expectIdentical(straight, resumed);
    const optimizer = SafetensorsFile.open(path.join(out, 'checkpoint-2', OPTIMIZER_FILE));
    expect(optimizer.metadata.optimizer).toBe('sgd');
    expect(optimizer.names().every((n) => n.endsWith('.momentum_buffer'))).toBe(true);
    optimizer.close();
  });

  test('LoRA with dropout resumes bit-identically; the checkpoint holds the adapter, not the model', () => {
    const baseDir = tmp('base');
    freshModel(5).savePretrained(baseDir);
    const baseModel = () => Gemma2ForCausalLM.fromPretrained(baseDir);
    const build = () => {
      const model = baseModel();
      return { model, lora: new LoraModel(model, loraConfig, 13) };
    };
    const { straight, resumed, out } = straightAndResumed({ ...fullOptions, lr: 5e-2 }, build, baseModel);
    expectIdentical(straight, resumed);
    expect(fs.readdirSync(path.join(out, 'checkpoint-3')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', OPTIMIZER_FILE, TRAINER_STATE_FILE]);
    expect(readTrainerState(path.join(out, 'checkpoint-3')).dropoutGenerator).not.toBeNull();
    expect(() => Trainer.resume(path.join(out, 'checkpoint-3'), { train: raggedData([8, 5, 8, 3, 7, 8], 31) })).toThrow(/holds LoRA adapters only; resuming needs their base model/);
  });

  test('resuming on other data or with another optimizer is refused', () => {
    const out = tmp('refuse');
    new Trainer({ model: freshModel(), train: blockData(4, 1), outDir: out, options: { steps: 2, batchSize: 2 } }).train(1);
    const dir = path.join(out, 'checkpoint-1');
    expect(() => Trainer.resume(dir, { train: blockData(4, 2) })).toThrow(/not the rows the checkpoint was trained on/);
    const state = JSON.parse(fs.readFileSync(path.join(dir, TRAINER_STATE_FILE), 'utf8'));
    fs.writeFileSync(path.join(dir, TRAINER_STATE_FILE), JSON.stringify({ ...state, options: { ...state.options, optimizer: 'sgd', weightDecay: 0 } }));
    expect(() => Trainer.resume(dir, { train: blockData(4, 1) })).toThrow(/holds adamw's state, this run uses sgd/);
    expect(() => Trainer.resume(out, { train: blockData(4, 1) })).toThrow(/no trainer_state.json/);
  });
});

describe('progress bar', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, columns: 100, write: (s: string) => chunks.push(s) } };
  };

  test('on a terminal it redraws one line in place and prints notes above it', () => {
    let clock = 0;
    const { chunks, stream } = sink(true);
    const bar = new ProgressBar(10, stream, { now: () => clock });
    clock = 2;
    bar.update({ step: 1, loss: 3.14159, tokensPerSecond: 1234.4 });
    bar.note('eval at step 1: loss 3.0');
    bar.finish();
    expect(chunks[0]).toMatch(/^\r 1\/10 \[==> {27}\]  10%  loss 3\.1416  1234 tok\/s  ETA 0:18\x1b\[K$/);
    expect(chunks[1]).toBe(`\r\x1b[Keval at step 1: loss 3.0\n${chunks[0].slice(1, -3)}`);
    expect(chunks[2]).toBe('\n');
  });

  test('elsewhere it prints plain lines: the first step, every few steps and the last', () => {
    const { chunks, stream } = sink(false);
    const bar = new ProgressBar(10, stream, { every: 4, now: () => 0 });
    for (let step = 1; step <= 10; step++) bar.update({ step, loss: 1, tokensPerSecond: 10 });
    bar.finish();
    expect(chunks.map((c) => c.match(/^step\s+(\d+)\/10/)![1])).toEqual(['1', '4', '8', '10']);
    expect(chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
  });
});
