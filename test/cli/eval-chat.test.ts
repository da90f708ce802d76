// gemma2 eval on the chat and prompt-completion examples gemma2 train reads:
// the mean loss over the assistant turns (or every token), one example per
// padded row, equal to scoring each example on its own, unpadded.

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { tokenizeJsonl } from '../../lib/train/jsonl-examples.ts';
import { tokenLossSum } from '../../lib/train/trainer.ts';
import { IGNORE_INDEX } from '../../lib/train/data.ts';
import { gemma2InProcess, repoRoot } from '../run-cli.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { tempDir } from '../temp-dir.ts';

const fixture = path.join(repoRoot, 'test/fixtures/sft-arithmetic');
const evalFile = path.join(fixture, 'eval.jsonl');

/** A model folder: the fixture's config with seeded weights, and the test tokenizer. */
function modelFolder(): { dir: string; model: Gemma2ForCausalLM } {
  const dir = tempDir('eval-chat');
  const model = new Gemma2ForCausalLM(parseGemma2Config(JSON.parse(fs.readFileSync(path.join(fixture, 'config.json'), 'utf8'))), { seed: 3 });
  model.savePretrained(dir);
  for (const name of fs.readdirSync(FIXTURE_DIR)) if (name.endsWith('.json')) fs.copyFileSync(path.join(FIXTURE_DIR, name), path.join(dir, name));
  return { dir, model };
}

/** The mean loss over the counted labels, each example run on its own (no padding, no batch). */
function lossOneByOne(model: Gemma2ForCausalLM, completionOnlyLoss: boolean): { loss: number; tokens: number } {
  const tokenizer = HfTokenizer.fromPretrained(FIXTURE_DIR);
  const { examples } = tokenizeJsonl(evalFile, fs.readFileSync(evalFile, 'utf8'), tokenizer, { completionOnlyLoss });
  let sum = 0;
  let tokens = 0;
  noGrad(() => {
    for (const { ids, labels } of examples) {
      const T = ids.length;
      const logits = model.forward({ inputIds: Tensor.fromData(Int32Array.from(ids), [1, T]) }).logits;
      sum += tokenLossSum(logits, Tensor.fromData(Int32Array.from(labels), [1, T])).item();
      tokens += labels.slice(1).filter((l) => l !== IGNORE_INDEX).length;
    }
  });
  return { loss: sum / tokens, tokens };
}

describe('gemma2 eval on chat examples', () => {
  const { dir, model } = modelFolder();

  test('the loss over the assistant turns, as the examples scored one by one; --loss-on-all-tokens counts the prompts too', async () => {
    for (const allTokens of [false, true]) {
      const run = await gemma2InProcess('eval', '--model', dir, '--data', evalFile, '--batch-size', '4', ...(allTokens ? ['--loss-on-all-tokens'] : []));
      expect(run.status, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout.split('\n')[0]);
      const expected = lossOneByOne(model, !allTokens);
      expect(result).toMatchObject({ format: 'messages', tokens: expected.tokens, rows: 40, completion_only_loss: !allTokens });
      // measured: 0 (assistant turns) and 1.8e-9 (every token) relative; the batched sums run in another order
      expect(Math.abs(result.loss - expected.loss)).toBeLessThan(1e-7 * expected.loss);
      expect(result.perplexity).toBeCloseTo(Math.exp(result.loss), 10);
      expect(run.stdout).toContain(allTokens ? `over ${expected.tokens} tokens of 40 examples` : `over ${expected.tokens} completion and assistant tokens of 40 examples`);
    }
  });

  test('options that belong to {"text"} perplexity are refused with chat data, and the other way round', async () => {
    const stride = await gemma2InProcess('eval', '--model', dir, '--data', evalFile, '--stride', '8');
    expect(stride.status).toBe(2);
    expect(stride.stderr).toMatch(/--stride is for the perplexity of \{"text"\} lines/);
    const texts = path.join(tempDir('eval-texts'), 'texts.jsonl');
    fs.writeFileSync(texts, '{"text": "1+2=3"}\n');
    const allTokens = await gemma2InProcess('eval', '--model', dir, '--data', texts, '--loss-on-all-tokens');
    expect(allTokens.status).toBe(2);
    expect(allTokens.stderr).toMatch(/--loss-on-all-tokens is for chat or prompt-completion examples/);
  });
});
