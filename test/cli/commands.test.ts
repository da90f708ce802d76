// The CLI papercuts of every command: --help per command (exit 0), negative
// numbers as option values, strict integers and numbers, the repetition
// penalty in greedy decoding, the bound on --max-new-tokens, the warning past
// max_position_embeddings, and train's refusals of --warmup past --steps and
// --seq-len past max_position_embeddings. In process (main()), but for one
// spawned run of each kind a user types.

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { goldenPath } from '../golden-files.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { generate } from '../../lib/generation/generate.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { gemma2, gemma2InProcess } from '../run-cli.ts';
import { tempDir } from '../temp-dir.ts';

const tiny = goldenPath('models/tiny');

describe('--help on every command', () => {
  test('prints that command\'s usage on stdout and exits 0', async () => {
    for (const command of ['parity', 'generate', 'train', 'merge']) {
      for (const flag of ['--help', '-h']) {
        const run = await gemma2InProcess(command, flag);
        expect(run.status, `${command} ${flag}`).toBe(0);
        expect(run.stdout, `${command} ${flag}`).toMatch(new RegExp(`^gemma2 ${command} `));
        expect(run.stderr).toBe('');
      }
    }
    // also after other options, and as a user runs it
    expect((await gemma2InProcess('generate', '--model', tiny, '--help')).status).toBe(0);
    const spawned = gemma2('merge', '--help');
    expect(spawned.status).toBe(0);
    expect(spawned.stdout).toContain('--overwrite');
  });

  test('a usage error prints the usage of its command only', async () => {
    const run = await gemma2InProcess('generate', '--model', tiny);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('gemma2: generate: give exactly one of --prompt and --ids\n\nusage:\ngemma2 generate ');
    expect(run.stderr).not.toContain('gemma2 merge --adapter');
    const unknown = await gemma2InProcess('generate', '--model', tiny, '--frobnicate');
    expect(unknown.stderr).toContain("gemma2: generate: Unknown option '--frobnicate'");
  });
});

describe('numbers on the command line', () => {
  test('a negative value works without "=": it reaches the option\'s own check', async () => {
    const negative = await gemma2InProcess('generate', '--model', tiny, '--ids', '2,17', '--temperature', '-1');
    expect(negative.status).toBe(2);
    expect(negative.stderr).toContain('gemma2: generate: --temperature -1 is not valid (expected a number > 0)');
    const spaced = await gemma2InProcess('generate', '--model', tiny, '--ids', '2,17', '--max-new-tokens', '3', '--temperature', '0.9', '--seed', '-4');
    const joined = await gemma2InProcess('generate', '--model', tiny, '--ids', '2,17', '--max-new-tokens', '3', '--temperature', '0.9', '--seed=-4');
    expect(spaced.status).toBe(0);
    expect(spaced.stdout).toBe(joined.stdout);
  });

  test('integers are decimal digits: 1e2, 0x10, 1.0 and blanks are refused, naming the option and value', async () => {
    const cases: [string[], string][] = [
      [['generate', '--model', tiny, '--ids', '2,1e2'], 'generate: --ids must be comma-separated integers, got "1e2" in "2,1e2"'],
      [['generate', '--model', tiny, '--ids', '0x10'], 'generate: --ids must be comma-separated integers, got "0x10"'],
      [['generate', '--model', tiny, '--ids', '2', '--max-new-tokens', '1e2'], 'generate: --max-new-tokens 1e2 is not valid (expected an integer >= 0)'],
      [['generate', '--model', tiny, '--ids', '2', '--top-k', '0x10'], 'generate: --top-k 0x10 is not valid (expected an integer >= 0)'],
      [['generate', '--model', tiny, '--ids', '2', '--top-p', 'Infinity'], 'generate: --top-p Infinity is not valid (expected a number in (0, 1])'],
      [['generate', '--model', tiny, '--ids', '2', '--seed', ' 3'], 'generate: --seed " 3" is not valid (expected an integer)'],
      [['train', '--model', tiny, '--tokens', 'x', '--out', 'y', '--steps', '1e2'], 'train: --steps 1e2 is not valid (expected a positive integer)'],
      [['train', '--model', tiny, '--tokens', 'x', '--out', 'y', '--seq-len', '16.0'], 'train: --seq-len 16.0 is not valid (expected an integer >= 2)'],
      [['train', '--model', tiny, '--tokens', 'x', '--out', 'y', '--lr', '0x1'], 'train: --lr 0x1 is not valid (expected a number >= 0)'],
    ];
    for (const [args, message] of cases) {
      const run = await gemma2InProcess(...args);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toContain(`gemma2: ${message}`);
    }
  });
});

describe('gemma2 generate: decoding and its bounds', () => {
  test('--repetition-penalty applies to greedy decoding, as generate() with the penalty', async () => {
    const prompt = [2, 17, 99, 5];
    const model = Gemma2ForCausalLM.fromPretrained(tiny);
    const expected = (repetitionPenalty?: number) =>
      generate(model, Tensor.fromData(Int32Array.from(prompt), [1, 4]), { maxNewTokens: 12, repetitionPenalty }).newTokens[0].join(' ');
    const run = await gemma2InProcess('generate', '--model', tiny, '--ids', prompt.join(','), '--max-new-tokens', '12', '--repetition-penalty', '5');
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(expected(5));
    expect(run.stdout.trim()).not.toBe(expected(undefined)); // the penalty changed the answer
  });

  test('--max-new-tokens too large for the cache is refused, naming the option and what fits', async () => {
    const run = await gemma2InProcess('generate', '--model', tiny, '--ids', '2,17', '--max-new-tokens', '1000000000');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^gemma2: generate: --max-new-tokens 1000000000 with a 2-token prompt needs a 476\.8 GiB key\/value cache, more than the [\d.]+ GiB allowed \(half this machine's memory, at most 8 GiB\); at most \d+ new tokens fit\n/);
  });

  test('a prompt past max_position_embeddings generates with one warning on stderr', async () => {
    const dir = tempDir('short-positions');
    const config = JSON.parse(fs.readFileSync(path.join(tiny, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 8 }));
    fs.copyFileSync(path.join(tiny, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const run = await gemma2InProcess('generate', '--model', dir, '--ids', '2,3,4,5,6,7,8,9,10,11', '--max-new-tokens', '3');
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split(' ')).toHaveLength(3);
    const warnings = run.stderr.split('\n').filter((line) => line.includes('warning'));
    expect(warnings).toEqual(['gemma2: warning: generate: the prompt reaches position 9, past max_position_embeddings (8); the model was not trained on such positions, so expect degraded output']);
  });
});

describe('gemma2 train refusals', () => {
  test('--warmup longer than --steps, and --seq-len past max_position_embeddings, are refused before anything is written', async () => {
    const dir = tempDir('train-refusals');
    const tokens = path.join(dir, 'tokens.txt');
    fs.writeFileSync(tokens, Array.from({ length: 64 }, (_, i) => (i * 7) % 256).join(' '));
    const out = path.join(dir, 'out');
    const warmup = await gemma2InProcess('train', '--model', tiny, '--tokens', tokens, '--out', out, '--steps', '2', '--warmup', '1000');
    expect(warmup.status).toBe(2);
    expect(warmup.stderr).toContain('gemma2: train: --warmup 1000 is more than --steps 2');
    const defaultSteps = await gemma2InProcess('train', '--model', tiny, '--tokens', tokens, '--out', out, '--warmup', '101');
    expect(defaultSteps.stderr).toContain('train: --warmup 101 is more than --steps 100');
    const long = await gemma2InProcess('train', '--model', tiny, '--tokens', tokens, '--out', out, '--seq-len', '513');
    expect(long.status).toBe(2);
    expect(long.stderr).toContain("gemma2: train: --seq-len 513 is more than the model's max_position_embeddings (512)");
    const init = await gemma2InProcess('train', '--init', path.join(tiny, 'config.json'), '--tokens', tokens, '--out', out, '--seq-len', '600');
    expect(init.stderr).toContain("train: --seq-len 600 is more than the model's max_position_embeddings (512)");
    expect(fs.existsSync(out)).toBe(false);
  });

  test('--resume with --steps below the run\'s warmup is refused too', async () => {
    const dir = tempDir('train-resume-warmup');
    const tokens = path.join(dir, 'tokens.txt');
    fs.writeFileSync(tokens, Array.from({ length: 64 }, (_, i) => (i * 7) % 256).join(' '));
    const out = path.join(dir, 'out');
    const first = await gemma2InProcess('train', '--model', tiny, '--tokens', tokens, '--out', out, '--steps', '4', '--warmup', '4', '--seq-len', '8', '--batch-size', '1', '--save-every', '1', '--lora-r', '1');
    expect(first.status).toBe(0);
    const shorter = await gemma2InProcess('train', '--resume', path.join(out, 'checkpoint-1'), '--steps', '3');
    expect(shorter.status).toBe(2);
    expect(shorter.stderr).toContain('gemma2: train: --warmup 4 is more than --steps 3');
  });
});
