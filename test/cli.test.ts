// The gemma2 command, run as a user runs it (node lib/cli/gemma2.js ...).

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../lib/io/safetensors.ts';
import { goldenPath } from './golden-files.ts';
import { Gemma2ForCausalLM } from '../lib/model/causal-lm.ts';
import { generate } from '../lib/generation/generate.ts';
import { Tensor } from '../lib/tensor/tensor.ts';
import { HfTokenizer } from '../lib/tokenizer/tokenizer.ts';
import { gemma2, gemma2InProcess, repoRoot } from './run-cli.ts';
import { tempDir } from './temp-dir.ts';



describe('gemma2 parity', () => {
  test('passing cases print a table and exit 0; --save-actual writes our outputs under the expected names', () => {
    const out = tempDir('parity');
    const run = gemma2('parity', goldenPath('cases/tiny-seqcls.safetensors'), goldenPath('cases/tiny-base-model.safetensors'), '--models', goldenPath('models'), '--backend', 'cpu', '--save-actual', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('kernels on cpu');
    expect(run.stdout).toMatch(/tiny-seqcls \(seq_cls, model tiny-seqcls, atol 0.0001, rtol 0.0001\)\n\s+tensor\s+max \|error\|\s+bound\s+result\n\s+logits\s+\S+\s+\S+\s+pass/);
    expect(run.stdout).toContain('all 2 cases pass');
    const saved = SafetensorsFile.open(path.join(out, 'tiny-base-model.actual.safetensors'));
    expect(saved.names()).toEqual(['last_hidden_state']);
    expect(saved.info('last_hidden_state').shape).toEqual([2, 24, 64]);
    expect(JSON.parse(saved.metadata.case).name).toBe('tiny-base-model');
    saved.close();
  });

  test('cases on the same model run together, in the order the first of each model was named', () => {
    const run = gemma2(
      'parity',
      goldenPath('cases/tiny-causal-lm.safetensors'),
      goldenPath('cases/tiny-seqcls.safetensors'),
      goldenPath('cases/tiny-causal-lm-f32.safetensors'),
      '--models',
      goldenPath('models'),
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const order = [...run.stdout.matchAll(/^(tiny-\S+) \(/gm)].map((m) => m[1]);
    expect(order).toEqual(['tiny-causal-lm', 'tiny-causal-lm-f32', 'tiny-seqcls']);
    expect(run.stdout).toContain('all 3 cases pass');
  });

  test('a case that cannot run, or a file that is not a case, fails with the reason and exit 1', () => {
    const notACase = goldenPath('models/tiny/model.safetensors');
    const noModels = tempDir('no-models');
    const run = gemma2('parity', goldenPath('cases/tiny-train.safetensors'), notACase, '--models', noModels);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/tiny-train \(train.*\n\s+FAIL: CheckpointError: .*tiny-gentle: not a folder/);
    expect(run.stdout).toContain(`${notACase}\n  FAIL: ${notACase}: no "case" entry in the safetensors __metadata__`);
    expect(run.stdout).toContain('2 of 2 cases FAIL');
  });

  test('a mismatch is reported per tensor, and a checkpoint that does not fit names its weights', () => {
    const models = tempDir('models');
    // tiny-tokcls with every score bias shifted by 0.01: the logits must FAIL, nothing else runs
    const source = SafetensorsFile.open(goldenPath('models/tiny-tokcls/model.safetensors'));
    const tensors = source.names().map((name) => {
      const data = source.readFloat32(name);
      if (name === 'score.bias') data.forEach((v, i) => (data[i] = v + 0.01));
      return { name, dtype: 'F32' as const, shape: [...source.info(name).shape], data };
    });
    source.close();
    fs.mkdirSync(path.join(models, 'tiny-tokcls'));
    fs.copyFileSync(goldenPath('models/tiny-tokcls/config.json'), path.join(models, 'tiny-tokcls/config.json'));
    writeSafetensors(path.join(models, 'tiny-tokcls/model.safetensors'), tensors, { format: 'pt' });
    const shifted = gemma2('parity', goldenPath('cases/tiny-tokcls.safetensors'), '--models', models);
    expect(shifted.status).toBe(1);
    expect(shifted.stdout).toMatch(/\n\s+logits\s+1\.0\de-2\s+\S+\s+FAIL/);
    // the sequence-classification weights where token classification is expected: score.bias is missing
    fs.cpSync(goldenPath('models/tiny-seqcls'), path.join(models, 'tiny-tokcls'), { recursive: true });
    const wrongHead = gemma2('parity', goldenPath('cases/tiny-tokcls.safetensors'), '--models', models);
    expect(wrongHead.status).toBe(1);
    expect(wrongHead.stdout).toMatch(/FAIL: WeightLoadError: .*the checkpoint does not fit the model/);
    expect(wrongHead.stdout).toMatch(/missing: score\.bias/);
  });

  test('usage errors exit 2 with the usage text of the command', async () => {
    const noModels = await gemma2InProcess('parity', goldenPath('cases/tiny-seqcls.safetensors'));
    expect(noModels.status).toBe(2);
    expect(noModels.stderr).toContain('gemma2: parity: give --models <dir> (a folder of model folders) or --model <dir> (one model folder)');
    expect(noModels.stderr).toContain('usage:\ngemma2 parity <case.safetensors>...');
    const both = await gemma2InProcess('parity', goldenPath('cases/tiny-seqcls.safetensors'), '--models', goldenPath('models'), '--model', goldenPath('models/tiny-seqcls'));
    expect(both.status).toBe(2);
    const unknown = await gemma2InProcess('frobnicate');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(unknown.stderr).toContain('usage: gemma2 <command>');
    const badBackend = await gemma2InProcess('parity', goldenPath('cases/tiny-seqcls.safetensors'), '--models', goldenPath('models'), '--backend', 'tpu');
    expect(badBackend.status).toBe(2);
    expect(badBackend.stderr).toContain('unknown backend "tpu"');
  });
});

describe('gemma2 generate', () => {
  /** The tiny golden model with the test tokenizer (same 256-token vocabulary) beside it. */
  function tinyWithTokenizer(): string {
    const dir = tempDir('generate');
    for (const file of ['config.json', 'model.safetensors']) fs.copyFileSync(goldenPath(`models/tiny/${file}`), path.join(dir, file));
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(repoRoot, 'test/tokenizer/fixtures/tiny', file), path.join(dir, file));
    return dir;
  }

  test('--ids on a folder without a tokenizer streams the greedy ids and reports tokens/s', () => {
    const run = gemma2('generate', '--model', goldenPath('models/tiny'), '--ids', '2,17,99,5', '--max-new-tokens', '6', '--backend', 'cpu');
    expect(run.status).toBe(0);
    const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
    const expected = generate(model, Tensor.fromData(Int32Array.of(2, 17, 99, 5), [1, 4]), { maxNewTokens: 6 }).newTokens[0];
    expect(run.stdout.trim().split(' ').map(Number)).toEqual(expected);
    expect(run.stderr).toMatch(/^6 new tokens; prompt 4 tokens in \d+ ms; decode [\d.]+ tokens\/s; kernels on cpu/);
  });

  test('a text prompt (plain and --chat) is encoded with the folder tokenizer and the answer decoded', () => {
    const dir = tinyWithTokenizer();
    const tokenizer = HfTokenizer.fromPretrained(dir);
    const model = Gemma2ForCausalLM.fromPretrained(dir);
    const plain = gemma2('generate', '--model', dir, '--prompt', 'hello', '--max-new-tokens', '5');
    expect(plain.status).toBe(0);
    const ids = tokenizer.encode('hello');
    const tokens = generate(model, Tensor.fromData(Int32Array.from(ids), [1, ids.length]), { maxNewTokens: 5 }).newTokens[0];
    expect(plain.stdout).toBe(`${tokenizer.decode(tokens, { skipSpecialTokens: true })}\n`);
    const chat = gemma2('generate', '--model', dir, '--prompt', 'hello', '--chat', '--max-new-tokens', '3', '--temperature', '0.8', '--seed', '3');
    expect(chat.status).toBe(0);
    const chatIds = tokenizer.applyChatTemplate([{ role: 'user', content: 'hello' }], { addGenerationPrompt: true, tokenize: true }) as number[];
    expect(chatIds[0]).toBe(tokenizer.tokenToId('<bos>'));
    expect(chat.stderr).toContain(`prompt ${chatIds.length} tokens`);
    const again = gemma2('generate', '--model', dir, '--prompt', 'hello', '--chat', '--max-new-tokens', '3', '--temperature', '0.8', '--seed', '3');
    expect(again.stdout).toBe(chat.stdout);
  });

  test('errors: missing folder, no tokenizer for text, ids outside the vocabulary, bad options', async () => {
    const missing = await gemma2InProcess('generate', '--model', '/nonexistent/model', '--ids', '2');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--model folder /nonexistent/model does not exist');
    const noTokenizer = await gemma2InProcess('generate', '--model', goldenPath('models/tiny'), '--prompt', 'hi');
    expect(noTokenizer.stderr).toContain('has no tokenizer.json, so a text prompt cannot be encoded; pass token ids instead, e.g. --ids');
    const outside = await gemma2InProcess('generate', '--model', goldenPath('models/tiny'), '--ids', '2,300');
    expect(outside.stderr).toContain("token id 300 is outside the model's vocabulary [0, 256)");
    const badIds = await gemma2InProcess('generate', '--model', goldenPath('models/tiny'), '--ids', '2,x');
    expect(badIds.stderr).toContain('--ids must be comma-separated integers, got "x"');
    const both = await gemma2InProcess('generate', '--model', goldenPath('models/tiny'), '--ids', '2', '--prompt', 'a');
    expect(both.stderr).toContain('give exactly one of --prompt and --ids');
    const badTopP = await gemma2InProcess('generate', '--model', goldenPath('models/tiny'), '--ids', '2', '--top-p', '1.5');
    expect(badTopP.stderr).toContain('--top-p 1.5 is not valid');
  });
});
