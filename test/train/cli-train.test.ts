// gemma2 train end to end: run as a user runs it (node lib/cli/gemma2.js)
// on golden/models/tiny with token ids, resumed from a checkpoint in a new
// process, and on the same model with the test tokenizer and JSONL texts
// (LoRA); --init from a config.json; and the usage errors (exit 2, in process).

import { afterEach, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { LoraModel } from '../../lib/train/lora.ts';
import { readTrainerState } from '../../lib/train/checkpoint.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { goldenPath } from '../golden-files.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { gemma2, gemma2InProcess } from '../run-cli.ts';
import { tempDir } from '../temp-dir.ts';

const tmp = (label: string) => tempDir(`cli-train-${label}`);


const weights = (dir: string) => new Map(Gemma2ForCausalLM.fromPretrained(dir, { weightDtype: 'float32' }).namedParameters().map(([n, p]) => [n, Float32Array.from(p.contiguousData() as Float32Array)]));
const logLines = (out: string) =>
  fs
    .readFileSync(path.join(out, 'train_log.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));

// 3 x 40 pseudo-random ids below 256 over a few lines, commas and spaces mixed.
const data = tmp('data');
const tokensFile = path.join(data, 'tokens.txt');
{
  const g = new Generator(3);
  const lines = Array.from({ length: 3 }, () => Array.from({ length: 40 }, () => g.nextInt(256)).join(g.nextFloat() < 0.5 ? ' ' : ', '));
  fs.writeFileSync(tokensFile, `${lines.join('\n')}\n`);
}

describe('gemma2 train with token ids on golden/models/tiny (no tokenizer)', () => {
  const out = path.join(tmp('run'), 'out');
  const args = ['--tokens', tokensFile, '--out', out, '--steps', '4', '--batch-size', '2', '--seq-len', '16', '--save-every', '2', '--eval-fraction', '0.25', '--eval-every', '2', '--lr', '1e-3', '--warmup', '1'];

  test('trains, logs, plots and checkpoints, and says where they went', () => {
    const run = gemma2('train', '--model', goldenPath('models/tiny'), ...args);
    expect(run.stderr).not.toMatch(/gemma2:/);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`model: ${goldenPath('models/tiny')}; full fine-tuning of`);
    expect(run.stdout).toContain(`train: 5 rows of 16 tokens from ${tokensFile} (the last 8 of 120 tokens do not fill a row and are left out; the last 2 rows are held out for eval)`);
    expect(run.stdout).toContain(`eval: 2 rows of 16 tokens from ${tokensFile} (the last 2 of 7 rows)`);
    expect(run.stdout).toContain('4 steps of 1 x 2 rows; adamw lr 0.001 (linear, warmup 1)');
    expect(run.stdout).toContain(`log: ${path.join(out, 'train_log.jsonl')}\nplot: ${path.join(out, 'loss.svg')}\ncheckpoints: ${path.join(out, 'checkpoint-2')}, ${path.join(out, 'checkpoint-4')}\n`);
    // Not a terminal: plain progress lines, eval results and saves.
    expect(run.stderr).toMatch(/^step 1\/4 25%  loss \d+\.\d{4}  \d+ tok\/s  ETA \d+:\d\d$/m);
    expect(run.stderr).toContain(`saved ${path.join(out, 'checkpoint-4')}`);
    expect(run.stderr).not.toContain('\r');

    const lines = logLines(out);
    expect(lines.map((l) => `${l.type}${l.step}`)).toEqual(['train1', 'train2', 'eval2', 'train3', 'train4', 'eval4']);
    expect(lines[0].lr).toBe(0); // warmup starts at 0
    expect(lines.filter((l) => l.type === 'eval').every((l) => l.eval_tokens === 2 * 15)).toBe(true);
    expect(fs.readFileSync(path.join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<polyline[\s\S]*<polyline[\s\S]*<\/svg>\n$/);

    const before = weights(goldenPath('models/tiny'));
    const after = weights(path.join(out, 'checkpoint-4'));
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, w] of after) expect(w, name).not.toEqual(before.get(name));
  });

  test('--resume in a new process continues bit-identically, from the checkpoint alone', () => {
    const resumedOut = path.join(tmp('resumed'), 'out');
    const run = gemma2('train', '--resume', path.join(out, 'checkpoint-2'), '--out', resumedOut);
    expect(run.stderr).not.toMatch(/gemma2:/);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`resuming ${path.join(out, 'checkpoint-2')} at step 2 of 4`);
    expect(run.stdout).toContain(`checkpoints: ${path.join(resumedOut, 'checkpoint-4')}\n`);
    for (const file of ['model.safetensors', 'optimizer.safetensors']) {
      expect(fs.readFileSync(path.join(resumedOut, 'checkpoint-4', file)).equals(fs.readFileSync(path.join(out, 'checkpoint-4', file))), file).toBe(true);
    }
    const timeless = (lines: Record<string, unknown>[]) => lines.map(({ elapsed, tokens_per_second, ...rest }) => rest);
    expect(timeless(logLines(resumedOut))).toEqual(timeless(logLines(out)));
  });
});

describe('gemma2 train on a BF16 checkpoint (golden/models/tiny-bf16)', () => {
  const args = ['--tokens', tokensFile, '--steps', '2', '--batch-size', '2', '--seq-len', '16', '--save-every', '1', '--lr', '1e-3'];

  test('full fine-tuning loads float32 master weights; LoRA keeps the base in bf16 and resumes bit-identically', () => {
    const full = path.join(tmp('bf16-full'), 'out');
    const fullRun = gemma2('train', '--model', goldenPath('models/tiny-bf16'), ...args, '--out', full);
    expect(fullRun.stderr).not.toMatch(/gemma2:/);
    expect(fullRun.status).toBe(0);
    const trained = weights(path.join(full, 'checkpoint-2'));
    for (const [name, w] of weights(goldenPath('models/tiny-bf16'))) expect(trained.get(name), name).not.toEqual(w);

    const lora = path.join(tmp('bf16-lora'), 'out');
    const loraRun = gemma2('train', '--model', goldenPath('models/tiny-bf16'), ...args, '--out', lora, '--lora-r', '2', '--lora-targets', 'q_proj,down_proj');
    expect(loraRun.stderr).not.toMatch(/gemma2:/);
    expect(loraRun.status).toBe(0);
    const resumed = path.join(tmp('bf16-lora-resumed'), 'out');
    const resumeRun = gemma2('train', '--resume', path.join(lora, 'checkpoint-1'), '--out', resumed);
    expect(resumeRun.stderr).not.toMatch(/gemma2:/);
    expect(resumeRun.status).toBe(0);
    for (const file of ['adapter_model.safetensors', 'optimizer.safetensors']) {
      expect(fs.readFileSync(path.join(resumed, 'checkpoint-2', file)).equals(fs.readFileSync(path.join(lora, 'checkpoint-2', file))), file).toBe(true);
    }
  });
});

describe('gemma2 train with JSONL texts and a tokenizer', () => {
  test('LoRA on a model folder with tokenizer.json: the checkpoint is a PEFT adapter with the tokenizer files', () => {
    const model = tmp('model');
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(goldenPath(`models/tiny/${f}`), path.join(model, f));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(FIXTURE_DIR, f), path.join(model, f));
    const texts = ['Hello world', 'Hi, the thing is working', 'user and model', 'the rain in Spain stays mainly in the plain'];
    const jsonl = path.join(data, 'texts.jsonl');
    fs.writeFileSync(jsonl, texts.map((text) => `${JSON.stringify({ text })}\n`).join(''));
    const out = path.join(tmp('lora'), 'out');
    const run = gemma2('train', '--model', model, '--data', jsonl, '--pad', '--seq-len', '12', '--eval-data', jsonl, '--out', out, '--steps', '2', '--batch-size', '2', '--lr', '1e-2', '--lora-r', '2', '--lora-alpha', '4', '--lora-dropout', '0.1', '--lora-targets', 'q_proj,o_proj');
    expect(run.stderr).not.toMatch(/gemma2:/);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('LoRA r=2 alpha=4 dropout=0.1 on q_proj,o_proj: 2.0k trainable of');
    expect(run.stdout).toContain(`train: 4 rows of 12 tokens from ${jsonl} (2 of 4 examples are longer than 12 tokens and were cut to their first 12 (as TRL truncates to max_length))`);
    const checkpoint = path.join(out, 'checkpoint-2');
    expect(fs.readdirSync(checkpoint).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json']);
    const lora = LoraModel.load(Gemma2ForCausalLM.fromPretrained(model), checkpoint);
    expect(lora.config).toEqual({ r: 2, alpha: 4, dropout: 0.1, targetModules: ['q_proj', 'o_proj'] });
    expect(lora.trainableParameters().some(([name, p]) => name.endsWith('lora_B.weight') && p.contiguousData().some((v) => v !== 0))).toBe(true);
    const state = readTrainerState(checkpoint);
    expect(state.source).toEqual({ kind: 'pretrained', dir: model });
    expect(state.lora).toEqual(lora.config);
    expect(logLines(out).map((l) => `${l.type}${l.step}`)).toEqual(['train1', 'train2', 'eval2']);
  });
});

describe('gemma2 train in process', () => {
  afterEach(() => vi.restoreAllMocks());

  /** gemma2 train ...args in this process (test/run-cli.ts). */
  const trainInProcess = async (...args: string[]) => {
    const { status, stdout, stderr } = await gemma2InProcess('train', ...args);
    return { code: status, stdout, stderr };
  };

  test('--init trains from random weights seeded by --seed', async () => {
    const dir = tmp('init');
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({ model_type: 'gemma2', vocab_size: 256, hidden_size: 16, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, query_pre_attn_scalar: 8 }),
    );
    const outs = [path.join(dir, 'a'), path.join(dir, 'b')];
    for (const out of outs) {
      const r = await trainInProcess('--init', config, '--tokens', tokensFile, '--out', out, '--steps', '2', '--batch-size', '2', '--seq-len', '8', '--seed', '5', '--optimizer', 'sgd', '--momentum', '0.9', '--max-grad-norm', '0');
      expect(r.stderr).not.toMatch(/gemma2:/);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`model: random weights from ${config} (seed 5); full fine-tuning of`);
      expect(r.stdout).toContain('sgd lr 0.001 (linear, warmup 0), weight decay 0; kernels on');
    }
    expect(weights(path.join(outs[0], 'checkpoint-2'))).toEqual(weights(path.join(outs[1], 'checkpoint-2')));
    expect(readTrainerState(path.join(outs[0], 'checkpoint-2')).source).toEqual({ kind: 'init', config, seed: 5 });
  });

  test('usage errors exit 2 with a message that names the problem', async () => {
    const tiny = goldenPath('models/tiny');
    const out = path.join(tmp('usage'), 'out');
    const jsonl = path.join(data, 'one.jsonl');
    fs.writeFileSync(jsonl, '{"text": "Hello"}\n');
    const cases: [string[], string][] = [
      [['--model', tiny, '--tokens', tokensFile], 'train: --out <dir> is required'],
      [['--model', tiny, '--init', 'c.json', '--tokens', tokensFile, '--out', out], 'train: give exactly one of --model <dir> and --init <config.json>'],
      [['--tokens', tokensFile, '--out', out], 'train: give exactly one of --model <dir> and --init <config.json>'],
      [['--model', tiny, '--tokens', tokensFile, '--data', jsonl, '--out', out], 'train: give exactly one of --data <file.jsonl> and --tokens <file>'],
      [['--model', tiny, '--tokens', tokensFile, '--eval-data', tokensFile, '--eval-fraction', '0.1', '--out', out], 'train: give at most one of --eval-data and --eval-fraction'],
      [['--model', tiny, '--tokens', tokensFile, '--pad', '--out', out], 'train: --pad applies to --data texts'],
      [['--model', tiny, '--tokens', tokensFile, '--out', out, '--eval-every', '2'], 'train: --eval-every needs eval data: --eval-data <file> or --eval-fraction <f>'],
      [['--model', tiny, '--tokens', tokensFile, '--out', out, '--momentum', '0.9'], 'train: --momentum is an SGD option (add --optimizer sgd)'],
      [['--model', tiny, '--tokens', tokensFile, '--out', out, '--lr', 'fast'], 'train: --lr fast is not valid (expected a number >= 0)'],
      [['--model', tiny, '--tokens', tokensFile, '--out', out, '--seq-len', '1'], 'train: --seq-len 1 is not valid (expected an integer >= 2)'],
      [['--model', tiny, '--tokens', tokensFile, '--out', out, '--schedule', 'step'], 'train: --schedule step is not constant, linear or cosine'],
      [['--model', tiny, '--tokens', tokensFile, '--out', out, '--seq-len', '8', '--lora-targets', 'nope'], 'LoRA: target module "nope" matches no projection'],
      [['--model', tiny, '--data', jsonl, '--out', out], `train: ${tiny} has no tokenizer.json, so the texts of ${jsonl} cannot be tokenized; pass token ids with --tokens`],
      [['--model', path.join(data, 'nowhere'), '--tokens', tokensFile, '--out', out], `train: model folder ${path.join(data, 'nowhere')} does not exist`],
      [['--resume', path.join(data, 'nowhere'), '--lr', '1'], 'train: --resume continues with the checkpoint\'s model, data and options; --lr cannot be changed'],
      [['--resume', data], `${data}: no trainer_state.json, so it is not a trainer checkpoint`],
      [['--model', tiny, '--tokens', tokensFile, '--out', out, '--bogus'], "Unknown option '--bogus'"],
    ];
    for (const [args, message] of cases) {
      const r = await trainInProcess(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    expect(fs.existsSync(out)).toBe(false); // nothing was written by a refused run
  });

  test('an --out that holds a run already, or a resume with nothing left to do, is refused', async () => {
    const out = path.join(tmp('again'), 'out');
    const first = await trainInProcess('--init', path.join(goldenPath('models/tiny'), 'config.json'), '--tokens', tokensFile, '--out', out, '--steps', '1', '--batch-size', '1', '--seq-len', '4');
    expect(first.code).toBe(0);
    const again = await trainInProcess('--init', path.join(goldenPath('models/tiny'), 'config.json'), '--tokens', tokensFile, '--out', out, '--steps', '1');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`train: ${out} already holds a training run (train_log.jsonl); continue it with --resume`);
    const done = await trainInProcess('--resume', path.join(out, 'checkpoint-1'));
    expect(done.code).toBe(2);
    expect(done.stderr).toContain(`is at step 1 and the run has 1 steps; give --steps with more to train further`);
  });
});
