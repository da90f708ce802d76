// Training and evaluating classifiers: a step's loss is the model's own
// (Transformers') loss; gradient accumulation over micro-batches with unequal
// item counts gives the gradient of the whole batch; a classifier started
// from a causal LM keeps its decoder stack and draws a new head (saved with
// num_labels, id2label and problem_type); LoRA trains the score head fully
// and saves it as PEFT's modules_to_save; metrics as scikit-learn computes
// them; strided perplexity scores each token once with the context its window gives.

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { logSoftmax } from '../../lib/ops/index.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Gemma2ForSequenceClassification, Gemma2ForTokenClassification } from '../../lib/model/classification.ts';
import { IGNORE_INDEX } from '../../lib/train/data.ts';
import { type LabelScheme, SequenceClassificationDataset, TokenClassificationDataset } from '../../lib/train/classification-data.ts';
import { MetricsAccumulator } from '../../lib/train/metrics.ts';
import { classifierFromPretrained, loadTrainableModel, newClassifier, taskBatch } from '../../lib/train/task.ts';
import { stridedPerplexity } from '../../lib/train/evaluate.ts';
import { Trainer } from '../../lib/train/trainer.ts';
import { ADAPTER_WEIGHTS, LoraModel } from '../../lib/train/lora.ts';
import { SafetensorsFile } from '../../lib/io/safetensors.ts';
import { randomModel } from '../model/arbitraries.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('cls-train');

const VOCAB = 32;
const T = 6;
const config = parseGemma2Config({
  vocab_size: VOCAB, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
  head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 4, pad_token_id: 0,
});
const single: LabelScheme = { problemType: 'single_label_classification', names: ['a', 'b', 'c'] };

/** Rows of random ids (1..VOCAB-1) of the given lengths, right-padded with 0. */
function rows(lengths: number[], seed: number): { ids: Int32Array; mask: Int32Array } {
  const g = new Generator(seed);
  const ids = new Int32Array(lengths.length * T);
  const mask = new Int32Array(lengths.length * T);
  lengths.forEach((n, r) => {
    for (let t = 0; t < n; t++) {
      ids[r * T + t] = 1 + g.nextInt(VOCAB - 1);
      mask[r * T + t] = 1;
    }
  });
  return { ids, mask };
}

function sequenceData(scheme: LabelScheme, targets: number[], seed = 5): SequenceClassificationDataset {
  const width = scheme.problemType === 'multi_label_classification' ? scheme.names.length : 1;
  const { ids, mask } = rows(Array.from({ length: targets.length / width }, (_, r) => 2 + (r % (T - 1))), seed);
  return new SequenceClassificationDataset(ids, mask, T, 'seq rows', [], scheme, Float32Array.from(targets));
}

/** Token rows whose labelled counts differ a lot from row to row (1, 5, 2, 4 ...). */
function tokenData(): TokenClassificationDataset {
  const lengths = [2, 6, 3, 5, 6, 2, 4, 6];
  const { ids, mask } = rows(lengths, 9);
  const g = new Generator(4);
  const labels = Int32Array.from(mask, (m) => (m === 1 && g.nextFloat() < 0.8 ? g.nextInt(3) : IGNORE_INDEX));
  return new TokenClassificationDataset(ids, labels, mask, T, 'token rows', [], single);
}

/** A classifier with every weight random (std 0.5): losses and gradients that differ from row to row. */
function classifier(task: 'seq-cls' | 'token-cls', scheme: LabelScheme): Gemma2ForSequenceClassification | Gemma2ForTokenClassification {
  const model = newClassifier(config, { task, scheme, seed: 1 });
  const causal = randomModel(config, 3);
  const weights = new Map(causal.namedParameters());
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      const from = weights.get(name);
      if (from !== undefined) (p.contiguousData() as Float32Array).set(from.contiguousData() as Float32Array);
      else for (let i = 0, d = p.contiguousData() as Float32Array; i < d.length; i++) d[i] = 0.5 * Math.sin(i + 1);
    }
  });
  return model;
}

const weightsAfterOneStep = (model: ReturnType<typeof classifier>, data: SequenceClassificationDataset | TokenClassificationDataset, batchSize: number, gradAccum: number, seed = 3) => {
  const trainer = new Trainer({ model, train: data, options: { steps: 1, batchSize, gradAccum, optimizer: 'sgd', lr: 1, maxGradNorm: null, seed } });
  const entry = trainer.trainStep();
  return { entry, weights: model.namedParameters().map(([, p]) => Array.from(p.contiguousData())) };
};

describe('a classifier training step', () => {
  test.each([
    ['single-label', single, [0, 2, 1, 1, 0, 2, 2, 1]],
    ['regression', { problemType: 'regression', names: ['LABEL_0'] } as LabelScheme, [0.5, -1, 2, 0, 1.5, 3, -2, 0.25]],
    ['multi-label', { problemType: 'multi_label_classification', names: ['x', 'y'] } as LabelScheme, [1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0]],
  ])('%s: the step loss is the model loss; 2 x 2 rows accumulate to the gradient of 4', (_, scheme, targets) => {
    const data = sequenceData(scheme, targets);
    const model = classifier('seq-cls', scheme);
    const firstRows = taskBatch(data, [0, 1, 2, 3]);
    const rowsOfStep = new Trainer({ model, train: data, options: { batchSize: 4, seed: 3 } }).data.nextRows(4);
    const expected = noGrad(() => model.forward({ ...taskBatch(data, rowsOfStep), attentionMask: taskBatch(data, rowsOfStep).attentionMask!, positionIds: undefined }).loss!.item());
    expect(firstRows.lossTokens).toBe(4 * (scheme.problemType === 'multi_label_classification' ? 2 : 1));
    const whole = weightsAfterOneStep(classifier('seq-cls', scheme), data, 4, 1);
    const split = weightsAfterOneStep(classifier('seq-cls', scheme), data, 2, 2);
    expect(whole.entry.loss).toBeCloseTo(expected, 5);
    expect(split.entry.loss).toBeCloseTo(expected, 5);
    whole.weights.forEach((w, i) => w.forEach((v, k) => expect(split.weights[i][k]).toBeCloseTo(v, 4)));
  });

  test('token classification: micro-batches with unequal label counts accumulate to the whole batch (counted across them)', () => {
    const data = tokenData();
    // a data-order seed whose first step splits into micro-batches of unequal counts (else a per-micro-batch mean would give the same)
    const countsFor = (seed: number) => {
      const stepRows = new Trainer({ model: classifier('token-cls', single), train: data, options: { batchSize: 4, seed } }).data.nextRows(4);
      return [stepRows.slice(0, 2), stepRows.slice(2)].map((r) => taskBatch(data, r).lossTokens);
    };
    const seed = [1, 2, 3, 4, 5, 6, 7, 8].find((s) => Math.abs(countsFor(s)[0] - countsFor(s)[1]) >= 3)!;
    const counts = countsFor(seed);
    const whole = weightsAfterOneStep(classifier('token-cls', single), data, 4, 1, seed);
    const split = weightsAfterOneStep(classifier('token-cls', single), data, 2, 2, seed);
    expect(split.entry.loss_tokens).toBe(counts[0] + counts[1]);
    expect(split.entry.loss).toBeCloseTo(whole.entry.loss, 5);
    let largest = 0;
    whole.weights.forEach((w, i) => w.forEach((v, k) => (largest = Math.max(largest, Math.abs(split.weights[i][k] - v)))));
    expect(largest).toBeLessThan(1e-4);
  });

  test('a causal-LM model with classification rows is refused, naming both', () => {
    expect(() => new Trainer({ model: randomModel(config, 1), train: sequenceData(single, [0, 1]) })).toThrow('seq rows: rows for seq-cls, but the model (Gemma2ForCausalLM) is for causal-lm');
    expect(() => new Trainer({ model: classifier('seq-cls', { problemType: 'single_label_classification', names: ['a', 'b'] }), train: sequenceData(single, [0, 1]) })).toThrow('seq rows: 3 labels, but the model has num_labels 2');
  });

  test('a micro-batch with no label adds nothing (a mean over none would be NaN)', () => {
    const { ids, mask } = rows([4, 5], 2);
    const labels = Int32Array.from(mask, (m, i) => (i >= T && m === 1 ? i % 3 : IGNORE_INDEX)); // row 0 unlabelled
    const data = new TokenClassificationDataset(ids, labels, mask, T, 'half-labelled rows', [], single);
    const trainer = new Trainer({ model: classifier('token-cls', single), train: data, options: { steps: 1, batchSize: 1, gradAccum: 2, lr: 0.1 } });
    const entry = trainer.trainStep();
    expect(entry.loss_tokens).toBe(5);
    expect(Number.isFinite(entry.loss) && Number.isFinite(entry.grad_norm)).toBe(true);
    expect(trainer.parameters.every(([, p]) => Array.from(p.contiguousData()).every(Number.isFinite))).toBe(true);
  });

  test('padded sequence rows need a pad_token_id to find each row\'s last token', () => {
    const model = newClassifier({ ...config, padTokenId: null }, { task: 'seq-cls', scheme: single, seed: 1 });
    expect(() => new Trainer({ model, train: sequenceData(single, [0, 1]) })).toThrow("seq rows: rows are padded but the model's config has no pad_token_id");
  });

  test('eval logs accuracy and macro-F1', () => {
    const data = sequenceData(single, [0, 2, 1, 1, 0, 2]);
    const trainer = new Trainer({ model: classifier('seq-cls', single), train: data, eval: data, options: { steps: 1, batchSize: 2 } });
    const entry = trainer.logEval();
    expect(entry.eval_tokens).toBe(6);
    expect(entry.eval_accuracy).toBeGreaterThanOrEqual(0);
    expect(entry.eval_macro_f1).toBeGreaterThanOrEqual(0);
    expect(entry.eval_mse).toBeUndefined();
  });
});

describe('metrics', () => {
  test('single-label accuracy and macro-F1 over the classes seen (scikit-learn), -100 skipped', () => {
    const m = new MetricsAccumulator('single_label_classification', 4);
    // predictions (argmax) 0, 1, 1, 1 for labels 0, 0, 1, 2; a fifth row is ignored
    m.add([5, 0, 0, 0, 0, 5, 0, 0], [0, 0]);
    m.add([0, 5, 0, 0, 1, 2, 0, 0, 9, 0, 0, 0], [1, 2, IGNORE_INDEX]);
    const { accuracy, macro_f1, count } = m.result();
    expect(count).toBe(4);
    expect(accuracy).toBe(0.5);
    expect(macro_f1).toBeCloseTo((2 / 3 + 1 / 2 + 0) / 3, 12); // f1_score([0,0,1,2], [0,1,1,1], average="macro"); class 3 never seen
  });

  test('multi-label subset accuracy and macro-F1 at logit 0; regression MSE', () => {
    const multi = new MetricsAccumulator('multi_label_classification', 2);
    multi.add([1, -1, 1, 1, -1, -1], [1, 0, 1, 0, 0, 1]);
    expect(multi.result()).toEqual({ count: 3, accuracy: 1 / 3, macro_f1: 0.5 });
    const regression = new MetricsAccumulator('regression', 1);
    regression.add([1, 2], [0, 4]);
    expect(regression.result()).toEqual({ count: 2, mse: 2.5 });
  });
});

describe('a classifier from a causal-LM folder', () => {
  const causalDir = path.join(dir, 'causal');
  const causal = new Gemma2ForCausalLM({ ...config, initializerRange: 0.5 }, { seed: 7 });
  causal.savePretrained(causalDir);

  test.each(['seq-cls', 'token-cls'] as const)('%s: the decoder stack loads, the head is normal(0, initializer_range) (bias 0), the labels are saved', (task) => {
    const model = classifierFromPretrained(causalDir, { task, scheme: single, seed: 11 });
    const base = new Map(causal.namedParameters());
    for (const [name, p] of model.namedParameters()) {
      if (name.startsWith('score.')) continue;
      expect(Array.from(p.contiguousData()), name).toEqual(Array.from(base.get(name)!.contiguousData()));
    }
    const head = Array.from(model.score.weight.contiguousData());
    const std = Math.sqrt(head.reduce((s, v) => s + v * v, 0) / head.length);
    expect(std).toBeGreaterThan(0.5 * 0.6);
    expect(std).toBeLessThan(0.5 * 1.4);
    if (task === 'token-cls') expect(Array.from(model.score.bias!.contiguousData()).every((v) => v === 0)).toBe(true);

    const saved = path.join(dir, `saved-${task}`);
    model.savePretrained(saved);
    const json = JSON.parse(fs.readFileSync(path.join(saved, 'config.json'), 'utf8'));
    expect(json.num_labels).toBe(3);
    expect(json.id2label).toEqual({ 0: 'a', 1: 'b', 2: 'c' });
    expect(json.label2id).toEqual({ a: 0, b: 1, c: 2 });
    expect(json.problem_type).toBe(task === 'seq-cls' ? 'single_label_classification' : null);
    const reloaded = loadTrainableModel(saved);
    expect(reloaded.architecture).toBe(model.architecture);
    // a classifier folder starts a run as it is, and its labels must be the data's
    const again = classifierFromPretrained(saved, { task, scheme: single, seed: 99 });
    expect(Array.from(again.score.weight.contiguousData())).toEqual(head);
    expect(() => classifierFromPretrained(saved, { task, scheme: { ...single, names: ['x', 'y'] }, seed: 0 })).toThrow('classifies into 3 labels (a, b, c); the data has 2 (x, y)');
  });
});

describe('LoRA on a classifier', () => {
  test('the score head trains fully and is saved and loaded as PEFT modules_to_save', () => {
    const data = tokenData();
    const model = classifier('token-cls', single);
    const lora = new LoraModel(model, { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] }, 1);
    const names = lora.trainableParameters().map(([n]) => n);
    expect(names.slice(-2)).toEqual(['base_model.model.score.weight', 'base_model.model.score.bias']);
    const frozen = Array.from(model.model.layers[0].mlp.upProj.weight.contiguousData());
    const headBefore = Array.from(model.score.weight.contiguousData());
    new Trainer({ model, lora, train: data, options: { steps: 2, batchSize: 4, lr: 0.05 } }).train();
    expect(Array.from(model.model.layers[0].mlp.upProj.weight.contiguousData())).toEqual(frozen);
    expect(Array.from(model.score.weight.contiguousData())).not.toEqual(headBefore);

    const adapterDir = path.join(dir, 'token-adapter');
    lora.save(adapterDir);
    const adapterConfig = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'));
    expect(adapterConfig.task_type).toBe('TOKEN_CLS');
    expect(adapterConfig.modules_to_save).toEqual(['score']);
    const file = SafetensorsFile.open(path.join(adapterDir, ADAPTER_WEIGHTS));
    expect(file.names().filter((n) => n.includes('score')).sort()).toEqual(['base_model.model.score.bias', 'base_model.model.score.weight']);
    file.close();

    // a fresh classifier (another head) with the adapter gives the trained model's logits
    const fresh = newClassifier(config, { task: 'token-cls', scheme: single, seed: 5 });
    noGrad(() => {
      const trained = new Map(model.namedParameters());
      for (const [name, p] of fresh.namedParameters()) if (!name.startsWith('score.')) (p.contiguousData() as Float32Array).set(trained.get(name)!.contiguousData() as Float32Array);
    });
    LoraModel.load(fresh, adapterDir).training = false;
    lora.training = false;
    const batch = taskBatch(data, [0, 1, 2]);
    const logits = (m: typeof model) => Array.from(noGrad(() => m.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask! }).logits.contiguousData()));
    const expected = logits(model);
    logits(fresh).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));

    const seqModel = newClassifier(config, { task: 'seq-cls', scheme: single, seed: 1 });
    expect(() => LoraModel.load(seqModel, adapterDir)).toThrow('task_type is "TOKEN_CLS", but the model is a SEQ_CLS model');
  });
});

describe('strided perplexity', () => {
  const model = randomModel({ ...config, maxPositionEmbeddings: 64 }, 2);
  const g = new Generator(8);
  const texts = [Array.from({ length: 11 }, () => g.nextInt(VOCAB)), Array.from({ length: 3 }, () => g.nextInt(VOCAB))];

  test('one window per text: exp of the mean token loss', () => {
    const result = stridedPerplexity(model, texts, { maxLength: 16 });
    const losses = texts.map((ids) => {
      const input = Tensor.fromData(Int32Array.from(ids), [1, ids.length]);
      return noGrad(() => model.forward({ inputIds: input, labels: input }).loss!.item()) * (ids.length - 1);
    });
    expect(result.tokens).toBe(10 + 2);
    expect(result.windows).toBe(2);
    expect(result.nll).toBeCloseTo((losses[0] + losses[1]) / 12, 5);
    expect(result.perplexity).toBeCloseTo(Math.exp(result.nll), 8);
  });

  test('windows of 4 every 2: each token once, with the context of the first window that reaches it', () => {
    const [W, S] = [4, 2];
    const result = stridedPerplexity(model, texts, { maxLength: W, stride: S });
    let nll = 0;
    for (const ids of texts) {
      for (let t = 1; t < ids.length; t++) {
        // the first window reaching t starts at the smallest multiple of S with begin + W > t
        const begin = t < W ? 0 : Math.ceil((t + 1 - W) / S) * S;
        const context = Int32Array.from(ids.slice(begin, t));
        const logits = noGrad(() => model.forward({ inputIds: Tensor.fromData(context, [1, context.length]) }).logits);
        const logProbs = noGrad(() => logSoftmax(logits.reshape([context.length, VOCAB]), -1)).contiguousData();
        nll -= logProbs[(context.length - 1) * VOCAB + ids[t]];
      }
    }
    expect(result.tokens).toBe(12);
    expect(result.nll).toBeCloseTo(nll / 12, 4);
    expect(() => stridedPerplexity(model, texts, { maxLength: 4, stride: 5 })).toThrow('the stride must be an integer in [1, 4] (the window), got 5');
    expect(() => stridedPerplexity(model, texts, { maxLength: 65 })).toThrow("windows of 65 tokens are longer than the model's max_position_embeddings 64");
  });
});
