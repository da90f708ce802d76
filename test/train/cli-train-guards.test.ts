// gemma2 train's guards from the command line (in process, as the usage
// tests of cli-train.test.ts): the issue's --lr 1e6 run stops with a non-zero
// exit naming the step, or skips such steps with --skip-nonfinite-steps;
// --init configs too large for the machine or for a typed array are refused
// before anything is allocated; --save-total-limit; a folder whose run died
// before its first checkpoint says so and --overwrite restarts it; a folder
// locked by a live run is refused.

import { afterEach, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Generator } from '../../lib/tensor/random.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { estimateTrainingMemory } from '../../lib/train/memory-estimate.ts';
import { goldenPath } from '../golden-files.ts';
import { tempDir } from '../temp-dir.ts';
import { gemma2InProcess } from '../run-cli.ts';

const root = tempDir('cli-train-guards');
let folders = 0;
const tmp = (label: string) => path.join(root, `${label}-${folders++}`);

const tokensFile = path.join(root, 'tokens.txt');
{
  const g = new Generator(3);
  fs.writeFileSync(tokensFile, Array.from({ length: 3 }, () => Array.from({ length: 40 }, () => g.nextInt(256)).join(' ')).join('\n'));
}
const tiny = ['--model', goldenPath('models/tiny'), '--tokens', tokensFile, '--batch-size', '2', '--seq-len', '16'];

/** gemma2 train ...args in this process (test/run-cli.ts). */
const gemma2 = async (...args: string[]) => {
  const { status, stdout, stderr } = await gemma2InProcess('train', ...args);
  return { code: status, stdout, stderr };
};

afterEach(() => vi.restoreAllMocks());

describe('divergence (--lr 1e6: the loss is NaN from step 3)', () => {
  test('stops with a non-zero exit naming the step; the checkpoints before it stay, none after; the log ends with the failure', async () => {
    const out = tmp('diverge');
    const r = await gemma2(...tiny, '--out', out, '--steps', '8', '--lr', '1e6', '--save-every', '1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`gemma2: step 3: the loss is NaN; the run diverged and is stopped. The last good checkpoint is ${path.join(out, 'checkpoint-2')}`);
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoint-1', 'checkpoint-2', 'loss.svg', 'train_log.jsonl']);
    const last = JSON.parse(fs.readFileSync(path.join(out, 'train_log.jsonl'), 'utf8').trimEnd().split('\n').at(-1)!);
    expect(last).toMatchObject({ type: 'failure', step: 3, quantity: 'loss', value: 'NaN' });
    expect(fs.readFileSync(path.join(out, 'loss.svg'), 'utf8')).toContain('train loss: 1 non-finite value (NaN or infinite) at x = 3');
  });

  test('--skip-nonfinite-steps runs to the end without those updates, and reports how many were skipped', async () => {
    const out = tmp('skip');
    const r = await gemma2(...tiny, '--out', out, '--steps', '8', '--lr', '1e6', '--skip-nonfinite-steps');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('skipped 6 of 8 steps for a non-finite loss or gradient norm (--skip-nonfinite-steps; see "skipped" in the log)');
    expect(r.stdout).toContain(`checkpoints: ${path.join(out, 'checkpoint-8')}`);
  });
});

describe('sizes refused before anything is allocated', () => {
  const writeConfig = (json: object) => {
    const file = path.join(fs.mkdtempSync(path.join(root, 'config-')), 'config.json');
    fs.writeFileSync(file, JSON.stringify(json));
    return file;
  };

  test('gemma-2-2b ({}) at 4 x 2048 tokens, and a 100-layer config: refused in moments with the estimate and the limit', async () => {
    for (const [config, seqLen] of [
      [{}, '2048'], // about 150 GB: more than any machine this runs on
      [{ num_hidden_layers: 100, intermediate_size: 36864 }, '16'], // 25.5e9 weights: 400 GB
    ] as const) {
      const started = performance.now();
      const out = tmp('huge');
      const r = await gemma2('--init', writeConfig(config), '--tokens', tokensFile, '--out', out, '--seq-len', seqLen);
      expect(performance.now() - started).toBeLessThan(5000);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/gemma2: train: training needs about [\d.]+ GB: weights [\d.]+ GB, gradients [\d.]+ GB, AdamW state [\d.]+ GB, activations at 4 x \d+ tokens [\d.]+ [MG]B; that is more than the [\d.]+ GB available \(free memory: os\.freemem\(\), of [\d.]+ GB in all\)\. .* --ignore-memory-check to try anyway/);
      expect(fs.existsSync(out)).toBe(false);
    }
  });

  const gemma2b = estimateTrainingMemory(parseGemma2Config({}), { batchSize: 4, seqLen: 128, optimizer: 'adamw', momentum: 0, lora: null }).total;
  test.runIf(os.freemem() < gemma2b)('the issue\'s --init {} at the default batch is refused on this machine (it has less free memory than the 46 GB it needs)', async () => {
    const r = await gemma2('--init', writeConfig({}), '--tokens', tokensFile, '--out', tmp('2b'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('activations at 4 x 128 tokens');
  });

  test('a tensor larger than a typed array gets a message naming it instead of "Invalid typed array length", even with --ignore-memory-check', async () => {
    const r = await gemma2('--init', writeConfig({ vocab_size: 4_000_000, hidden_size: 2048 }), '--tokens', tokensFile, '--out', tmp('typed'), '--ignore-memory-check');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('gemma2: train: model.embed_tokens.weight would have 8.192e+9 elements, more than the 4294967296 one typed array can hold in this engine');
    expect(r.stderr).not.toContain('Invalid typed array length');
  });
});

describe('the output folder', () => {
  test('--save-total-limit 2 keeps the newest two checkpoints', async () => {
    const out = tmp('limit');
    const r = await gemma2(...tiny, '--out', out, '--steps', '4', '--save-every', '1', '--save-total-limit', '2');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(out).filter((f) => f.startsWith('checkpoint')).sort()).toEqual(['checkpoint-3', 'checkpoint-4']);
    expect(r.stdout).toContain(`checkpoints: ${path.join(out, 'checkpoint-3')}, ${path.join(out, 'checkpoint-4')} (2 older ones deleted: --save-total-limit 2)`);
  });

  test('a run killed before its first checkpoint: the message says there is nothing to resume; --overwrite restarts it', async () => {
    const out = tmp('no-checkpoint');
    fs.mkdirSync(path.join(out, 'checkpoint-2.partial'), { recursive: true }); // killed during its first save
    fs.writeFileSync(path.join(out, 'train_log.jsonl'), '{"type":"train","step":1}\n');
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const refused = await gemma2(...tiny, '--out', out, '--steps', '2');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`train: ${out} holds the log of a run (train_log.jsonl) that stopped before its first checkpoint, so there is nothing to resume; start it again with --overwrite`);
    const again = await gemma2(...tiny, '--out', out, '--steps', '2', '--overwrite');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`--overwrite: removed checkpoint-2.partial, train_log.jsonl from ${out}`);
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoint-2', 'loss.svg', 'notes.txt', 'train_log.jsonl']);
    // a folder with checkpoints names the newest to resume from
    const done = await gemma2(...tiny, '--out', out, '--steps', '2');
    expect(done.stderr).toContain(`train: ${out} already holds a training run (train_log.jsonl); continue it with --resume ${path.join(out, 'checkpoint-2')}, start it again with --overwrite, or choose another --out`);
  });

  test('a folder another live run holds is refused, naming the lock and its pid; the lock is gone after a run, failed or not', async () => {
    const out = tmp('locked');
    fs.mkdirSync(out);
    const lock = path.join(out, '.lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: process.ppid, hostname: os.hostname(), started: 'earlier' }));
    const r = await gemma2(...tiny, '--out', out, '--steps', '1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`gemma2: ${out} is in use by another training run (${lock}: pid ${process.ppid} on ${os.hostname()}, started earlier)`);
    fs.rmSync(lock);
    expect((await gemma2(...tiny, '--out', out, '--steps', '1')).code).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
    const failed = tmp('locked-fail');
    expect((await gemma2(...tiny, '--out', failed, '--steps', '4', '--lr', '1e6')).code).toBe(2);
    expect(fs.readdirSync(failed)).not.toContain('.lock');
  });

  test('--early-stopping-patience needs eval data', async () => {
    const r = await gemma2(...tiny, '--out', tmp('early'), '--early-stopping-patience', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('train: --early-stopping-patience needs eval data: --eval-data <file> or --eval-fraction <f>');
  });
});
