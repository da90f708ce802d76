// gemma2 train --task seq-cls / token-cls and gemma2 eval on
// golden/models/tiny with the test tokenizer and the classification fixture
// (test/fixtures/classify): the saved config carries the labels, eval scores
// the checkpoint and a LoRA adapter over the base, and usage errors exit 2
// naming the option. One run as a user runs it (a child process); the rest
// in process (main()), which is seconds faster each.

import { afterEach, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { goldenPath } from '../golden-files.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { gemma2, repoRoot } from '../run-cli.ts';
import { main } from '../../lib/cli/main.ts';
import { classifierFromPretrained } from '../../lib/train/task.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('cli-classify');
const fixture = (name: string) => path.join(repoRoot, 'test/fixtures/classify', name);
const tiny = goldenPath('models/tiny');
const jsonLine = (stdout: string) => JSON.parse(stdout.split('\n')[0]);

async function inProcess(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a) => void stdout.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a) => void stderr.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation((text) => (stderr.push(String(text)), true));
  const status = await main(args);
  vi.restoreAllMocks();
  return { status, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}
afterEach(() => vi.restoreAllMocks());

describe('gemma2 train --task seq-cls, then gemma2 eval', () => {
  const out = path.join(dir, 'seq');
  test('trains a classifier from a causal-LM folder; its checkpoint holds the labels and evaluates as logged', async () => {
    const before = await inProcess('eval', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--task', 'seq-cls', '--data', fixture('eval.jsonl'), '--seq-len', '32');
    expect(before.stderr).toBe('');
    expect(before.status).toBe(0);
    const start = jsonLine(before.stdout);

    const run = gemma2(
      'train', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--task', 'seq-cls', '--data', fixture('train.jsonl'), '--eval-data', fixture('eval.jsonl'),
      '--seq-len', '32', '--steps', '6', '--batch-size', '8', '--lr', '3e-3', '--out', out,
    );
    expect(run.stderr).not.toMatch(/gemma2:/);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('task: seq-cls, single_label_classification, 3 labels (exclamation, question, statement)');
    expect(run.stdout).toMatch(/eval loss \d+\.\d{4}, accuracy \d\.\d{4}, macro-F1 \d\.\d{4}/);
    const checkpoint = path.join(out, 'checkpoint-6');
    const config = JSON.parse(fs.readFileSync(path.join(checkpoint, 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['Gemma2ForSequenceClassification']);
    expect(config.id2label).toEqual({ 0: 'exclamation', 1: 'question', 2: 'statement' });
    expect(config.problem_type).toBe('single_label_classification');

    const logged = fs.readFileSync(path.join(out, 'train_log.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).pop();
    const after = await inProcess('eval', '--model', checkpoint, '--data', fixture('eval.jsonl'), '--seq-len', '32');
    expect(after.status).toBe(0);
    const result = jsonLine(after.stdout);
    expect(result).toMatchObject({ task: 'seq-cls', rows: 60, count: 60 });
    expect(result.accuracy).toBeCloseTo(logged.eval_accuracy, 10);
    expect(result.macro_f1).toBeCloseTo(logged.eval_macro_f1, 10);
    expect(result.loss).toBeCloseTo(logged.eval_loss, 5);
    expect(result.loss).toBeLessThan(start.loss); // 6 steps on 3 classes told apart by the last character
    expect(after.stdout.split('\n')[1]).toMatch(/: 60 rows, loss \d+\.\d{4} over 60 items, accuracy \d\.\d{4}, macro-F1 \d\.\d{4}; /);
  });
});

describe('gemma2 train from a classifier folder', () => {
  test('keeps the folder\'s labels in its id order (the data\'s names map onto them)', async () => {
    const folder = path.join(dir, 'reversed-classifier');
    classifierFromPretrained(tiny, { task: 'seq-cls', scheme: { problemType: 'single_label_classification', names: ['statement', 'question', 'exclamation'] }, seed: 0 }).savePretrained(folder);
    const run = await inProcess('train', '--model', folder, '--tokenizer', FIXTURE_DIR, '--data', fixture('eval.jsonl'), '--seq-len', '32', '--steps', '1', '--batch-size', '4', '--out', path.join(dir, 'continued'));
    expect(run.stderr).not.toMatch(/gemma2:/);
    expect(run.stdout).toContain('task: seq-cls, single_label_classification, 3 labels (statement, question, exclamation)');
  });
});

describe('gemma2 train --task token-cls with LoRA, then gemma2 eval --adapter', () => {
  test('the adapter (score head in modules_to_save) evaluates over the base folder as logged, and a resumed run ends the same', async () => {
    const out = path.join(dir, 'tok');
    const run = await inProcess(
      'train', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--task', 'token-cls', '--data', fixture('tokens-train.jsonl'), '--eval-data', fixture('tokens-eval.jsonl'),
      '--seq-len', '24', '--steps', '4', '--save-every', '2', '--batch-size', '4', '--lr', '3e-3', '--lora-r', '2', '--out', out,
    );
    expect(run.stderr).not.toMatch(/gemma2:/);
    expect(run.status).toBe(0);
    const adapter = path.join(out, 'checkpoint-4');
    expect(JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8'))).toMatchObject({ task_type: 'TOKEN_CLS', modules_to_save: ['score'] });
    const logged = fs.readFileSync(path.join(out, 'train_log.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).pop();
    // the checkpoint carries the tokenizer: no --tokenizer needed
    const evaluated = await inProcess('eval', '--model', tiny, '--adapter', adapter, '--data', fixture('tokens-eval.jsonl'), '--seq-len', '24');
    expect(evaluated.stderr).toBe('');
    const result = jsonLine(evaluated.stdout);
    expect(result.task).toBe('token-cls');
    expect(result.count).toBe(logged.eval_tokens);
    expect(result.accuracy).toBeCloseTo(logged.eval_accuracy, 10);

    // the labels and the head come back from the checkpoint: the resumed run's adapter is the same, byte for byte
    const resumedOut = path.join(dir, 'tok-resumed');
    const resumed = await inProcess('train', '--resume', path.join(out, 'checkpoint-2'), '--out', resumedOut);
    expect(resumed.status).toBe(0);
    const weights = (folder: string) => fs.readFileSync(path.join(folder, 'adapter_model.safetensors'));
    expect(weights(path.join(resumedOut, 'checkpoint-4')).equals(weights(adapter))).toBe(true);
  });
});

describe('gemma2 eval of a causal LM and usage errors', () => {
  test('strided perplexity: one JSON line and one line for people', async () => {
    const run = await inProcess('eval', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--data', fixture('eval.jsonl'), '--seq-len', '16', '--stride', '8');
    expect(run.status).toBe(0);
    const result = jsonLine(run.stdout);
    expect(result).toMatchObject({ task: 'causal-lm', max_length: 16, stride: 8 });
    expect(result.perplexity).toBeCloseTo(Math.exp(result.nll), 8);
    expect(run.stdout.split('\n')[1]).toContain(`over ${result.tokens} tokens of 60 texts, windows of 16 every 8`);
  });

  test('a causal-LM LoRA checkpoint from gemma2 train evaluates over its base', async () => {
    const out = path.join(dir, 'causal-lora');
    const run = await inProcess('train', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--data', fixture('eval.jsonl'), '--seq-len', '32', '--steps', '2', '--batch-size', '4', '--lr', '1e-2', '--lora-r', '2', '--out', out);
    expect(run.status).toBe(0);
    const args = ['--data', fixture('eval.jsonl'), '--seq-len', '16', '--stride', '8'];
    const base = jsonLine((await inProcess('eval', '--model', tiny, '--tokenizer', FIXTURE_DIR, ...args)).stdout);
    const adapted = await inProcess('eval', '--model', tiny, '--adapter', path.join(out, 'checkpoint-2'), ...args);
    expect(adapted.stderr).toBe('');
    const result = jsonLine(adapted.stdout);
    expect(result.tokens).toBe(base.tokens);
    expect(result.nll).not.toBe(base.nll); // the adapter is applied
  });

  test.each([
    [['eval', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--data', fixture('eval.jsonl'), '--task', 'seq-cls', '--stride', '4'], '--stride is for causal-LM perplexity'],
    [['eval', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--data', fixture('eval.jsonl'), '--task', 'sentiment'], '--task sentiment is not one of causal-lm, seq-cls, token-cls'],
    [['eval', '--model', tiny, '--data', fixture('eval.jsonl')], `${tiny} has no tokenizer.json`],
    [['train', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--task', 'seq-cls', '--tokens', fixture('eval.jsonl'), '--out', path.join(dir, 'x')], 'reads labelled JSONL lines from --data'],
    [['train', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--data', fixture('eval.jsonl'), '--num-labels', '3', '--out', path.join(dir, 'y')], '--num-labels and --id2label are for a classifier'],
    [['train', '--model', tiny, '--tokenizer', FIXTURE_DIR, '--task', 'seq-cls', '--data', fixture('eval.jsonl'), '--id2label', 'a,a', '--out', path.join(dir, 'z')], 'must name distinct classes'],
  ])('%j fails: %s', async (args, message) => {
    const run = await inProcess(...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
