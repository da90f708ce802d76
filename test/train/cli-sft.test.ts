// gemma2 train on chat data (in process): the shipped chat set
// (test/fixtures/sft-arithmetic) packed by default, --pad and
// --loss-on-all-tokens, a resumed run that reads the same rows (the layout and
// the loss switch are kept in the checkpoint), and the usage and data errors.

import { afterEach, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, gemma2InProcess } from '../run-cli.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { tempDir } from '../temp-dir.ts';

const fixture = path.join(repoRoot, 'test/fixtures/sft-arithmetic');
const dir = tempDir('cli-sft');
afterEach(() => vi.restoreAllMocks());

/** gemma2 train ...args in this process (test/run-cli.ts). */
const train = async (...args: string[]) => {
  const { status, stdout, stderr } = await gemma2InProcess('train', ...args);
  return { code: status, stdout, stderr };
};

const chat = ['--init', path.join(fixture, 'config.json'), '--tokenizer', FIXTURE_DIR, '--data', path.join(fixture, 'train.jsonl'), '--seq-len', '64', '--batch-size', '2'];

describe('gemma2 train --data with chat messages', () => {
  test('packed by default, the loss on the assistant turns; a resumed run reads the same packed rows', async () => {
    const out = path.join(dir, 'packed');
    const first = await train(...chat, '--steps', '1', '--out', out);
    expect(first.stderr).not.toMatch(/gemma2:/);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      `train: 94 rows of 64 tokens from ${path.join(fixture, 'train.jsonl')} (messages examples, loss on the assistant turns only; 320 examples packed into 94 rows (95.3% of the tokens are not padding))`,
    );
    const resumed = await train('--resume', path.join(out, 'checkpoint-1'), '--steps', '2');
    expect(resumed.stderr).not.toMatch(/gemma2:/);
    expect(resumed.stdout).toContain('train: 94 rows of 64 tokens');
    expect(fs.existsSync(path.join(out, 'checkpoint-2'))).toBe(true);
  });

  test('--pad: one conversation per row; --loss-on-all-tokens: every token counted; and kept on resume', async () => {
    const out = path.join(dir, 'padded');
    const run = await train(...chat, '--pad', '--loss-on-all-tokens', '--steps', '1', '--out', out);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`train: 320 rows of 64 tokens from ${path.join(fixture, 'train.jsonl')} (messages examples, loss on every token)`);
    const resumed = await train('--resume', path.join(out, 'checkpoint-1'), '--steps', '2');
    expect(resumed.stderr).not.toMatch(/gemma2:/);
    expect(resumed.stdout).toContain('train: 320 rows of 64 tokens');
    expect(resumed.stdout).toContain('loss on every token');
  });

  test('usage and data errors name the flag, or the file and line', async () => {
    const out = path.join(dir, 'refused');
    const tokens = path.join(dir, 'ids.txt');
    fs.writeFileSync(tokens, '1 2 3 4 5 6');
    const model = ['--init', path.join(fixture, 'config.json')];
    const usage: [string[], string][] = [
      [[...chat, '--pack', '--pad', '--out', out], 'train: give at most one of --pack and --pad'],
      [[...model, '--tokens', tokens, '--pack', '--out', out], 'train: --pack applies to --data texts; token ids are cut into rows as they come'],
      [[...model, '--tokens', tokens, '--loss-on-all-tokens', '--out', out], 'train: --loss-on-all-tokens applies to --data texts'],
    ];
    for (const [args, message] of usage) {
      const r = await train(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    const mixed = path.join(dir, 'mixed.jsonl');
    fs.writeFileSync(mixed, '{"prompt": "1+1", "completion": "2"}\n{"messages": [{"role": "user", "content": "1+1"}, {"role": "assistant", "content": "2"}]}\n');
    const r = await train(...model, '--tokenizer', FIXTURE_DIR, '--data', mixed, '--out', out);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${mixed}:2: a messages example, but line 1 is a prompt-completion example; one file holds one format`);
    expect(fs.existsSync(path.join(out, 'train_log.jsonl'))).toBe(false);
  });
});
