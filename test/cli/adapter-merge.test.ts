// gemma2 generate with a LoRA adapter (--adapter, or a LoRA checkpoint-<step>
// of gemma2 train given as --model), and gemma2 merge: the merged folder's
// logits equal the adapter model's, in the base's stored dtype, with the
// tokenizer files; a non-empty --out is refused without --overwrite.

import { beforeAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { goldenPath } from '../golden-files.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { generate } from '../../lib/generation/generate.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { SafetensorsFile } from '../../lib/io/safetensors.ts';
import { ADAPTER_CONFIG, LoraModel } from '../../lib/train/lora.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { gemma2, gemma2InProcess } from '../run-cli.ts';
import { tempDir } from '../temp-dir.ts';

const root = tempDir('adapter');
const base = path.join(root, 'base'); // golden tiny with the test tokenizer (same 256-token vocabulary)
const adapter = path.join(root, 'adapter');
const promptIds = [2, 17, 99, 5, 31];
const prompt = Tensor.fromData(Int32Array.from(promptIds), [1, promptIds.length]);

/** Base + adapter from `dir`, for inference. */
function withAdapter(baseDir: string, dir: string, weightDtype: 'auto' | 'float32' = 'auto'): Gemma2ForCausalLM {
  const model = Gemma2ForCausalLM.fromPretrained(baseDir, { weightDtype });
  LoraModel.load(model, dir).training = false;
  return model;
}

const logitsOf = (model: Gemma2ForCausalLM) => noGrad(() => model.forward({ inputIds: prompt }).logits).contiguousData() as Float32Array;
const greedy = (model: Gemma2ForCausalLM, ids: number[] = promptIds) =>
  generate(model, Tensor.fromData(Int32Array.from(ids), [1, ids.length]), { maxNewTokens: 8 }).newTokens[0];

/** A LoRA adapter on `baseDir` whose B matrices are random (a fresh adapter's are zero: no change), saved under `dir`. Its dropout is 0.9: an adapter left in training mode would generate other tokens. */
function saveRandomAdapter(baseDir: string, dir: string, seed: number): void {
  const model = Gemma2ForCausalLM.fromPretrained(baseDir);
  const lora = new LoraModel(model, { r: 4, alpha: 8, dropout: 0.9, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, seed);
  const g = new Generator(seed);
  noGrad(() => {
    for (const { adapter: a } of lora.adapters.values()) a.b.copyFrom(Tensor.fromData(Float32Array.from({ length: a.b.size }, () => (g.nextFloat() - 0.5) * 0.5), a.b.shape));
  });
  lora.save(dir, baseDir);
}

beforeAll(() => {
  fs.mkdirSync(base);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(goldenPath(`models/tiny/${f}`), path.join(base, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(FIXTURE_DIR, f), path.join(base, f));
  saveRandomAdapter(base, adapter, 7);
});

describe('gemma2 generate with a LoRA adapter', () => {
  test('--adapter alone finds its base (base_model_name_or_path); with --model it is the same; both differ from the base alone', async () => {
    const expected = greedy(withAdapter(base, adapter));
    expect(expected).not.toEqual(greedy(Gemma2ForCausalLM.fromPretrained(base)));
    const alone = await gemma2InProcess('generate', '--adapter', adapter, '--ids', promptIds.join(','), '--max-new-tokens', '8');
    expect(alone.status).toBe(0);
    // the base folder has a tokenizer: the answer is decoded
    expect(alone.stdout).toBe(`${HfTokenizer.fromPretrained(base).decode(expected, { skipSpecialTokens: true })}\n`);
    expect(alone.stderr).toContain(`gemma2: generating with ${base} with the LoRA adapter ${adapter}`);
    const both = await gemma2InProcess('generate', '--model', base, '--adapter', adapter, '--ids', promptIds.join(','), '--max-new-tokens', '8');
    expect(both.stdout).toBe(alone.stdout);
  });

  test('an adapter whose base is not here, a folder that is no adapter, and an adapter as --model with --adapter are refused', async () => {
    const moved = tempDir('adapter-moved');
    for (const f of fs.readdirSync(adapter)) fs.copyFileSync(path.join(adapter, f), path.join(moved, f));
    const config = JSON.parse(fs.readFileSync(path.join(moved, ADAPTER_CONFIG), 'utf8'));
    fs.writeFileSync(path.join(moved, ADAPTER_CONFIG), JSON.stringify({ ...config, base_model_name_or_path: 'google/gemma-2-2b' }));
    const lost = await gemma2InProcess('generate', '--adapter', moved, '--ids', '2');
    expect(lost.status).toBe(2);
    expect(lost.stderr).toContain(`gemma2: generate: ${moved} is a LoRA adapter and its base model "google/gemma-2-2b" (base_model_name_or_path in adapter_config.json) is not a folder here; give the base model folder with --model <dir>`);
    expect((await gemma2InProcess('generate', '--model', base, '--adapter', moved, '--ids', '2', '--max-new-tokens', '1')).status).toBe(0);
    const notAdapter = await gemma2InProcess('generate', '--adapter', base, '--ids', '2');
    expect(notAdapter.stderr).toContain(`gemma2: generate: --adapter ${base} has no adapter_config.json, so it is not a LoRA adapter folder`);
    const twice = await gemma2InProcess('generate', '--model', adapter, '--adapter', adapter, '--ids', '2');
    expect(twice.stderr).toContain(`--model ${adapter} is a LoRA adapter (adapter_config.json, no config.json)`);
  });

  test('--model <out>/checkpoint-N of a LoRA run of gemma2 train generates text with the adapter and the checkpoint\'s tokenizer', async () => {
    const dir = tempDir('lora-run');
    const jsonl = path.join(dir, 'texts.jsonl');
    fs.writeFileSync(jsonl, ['Hello world', 'the rain in Spain', 'user and model', 'Hi, the thing is working'].map((text) => `${JSON.stringify({ text })}\n`).join(''));
    const out = path.join(dir, 'out');
    const train = await gemma2InProcess('train', '--model', base, '--data', jsonl, '--pad', '--seq-len', '8', '--out', out, '--steps', '2', '--batch-size', '2', '--lr', '0.05', '--lora-r', '2');
    expect(train.status).toBe(0);
    const checkpoint = path.join(out, 'checkpoint-2');
    const run = gemma2('generate', '--model', checkpoint, '--prompt', 'hello', '--max-new-tokens', '6');
    expect(run.stderr).toContain(`gemma2: generating with ${base} with the LoRA adapter ${checkpoint}`);
    expect(run.status).toBe(0);
    const tokenizer = HfTokenizer.fromPretrained(checkpoint);
    const ids = tokenizer.encode('hello');
    expect(run.stdout).toBe(`${tokenizer.decode(greedy(withAdapter(base, checkpoint), ids).slice(0, 6), { skipSpecialTokens: true })}\n`);
  });
  test('a LoRA checkpoint of a run from --init rebuilds the same seeded random base; merge writes it in float32', async () => {
    const dir = tempDir('lora-init');
    const tokens = path.join(dir, 'tokens.txt');
    fs.writeFileSync(tokens, Array.from({ length: 48 }, (_, i) => (i * 37) % 256).join(' '));
    const configFile = path.join(dir, 'config.json');
    fs.copyFileSync(goldenPath('models/tiny/config.json'), configFile);
    const out = path.join(dir, 'out');
    const train = await gemma2InProcess('train', '--init', configFile, '--seed', '9', '--tokens', tokens, '--seq-len', '8', '--out', out, '--steps', '1', '--batch-size', '2', '--lr', '0.05', '--lora-r', '2');
    expect(train.status).toBe(0);
    const checkpoint = path.join(out, 'checkpoint-1');
    const run = await gemma2InProcess('generate', '--model', checkpoint, '--ids', promptIds.join(','), '--max-new-tokens', '8');
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(`gemma2: generating with random weights from ${configFile} (seed 9) with the LoRA adapter ${checkpoint}`);
    const model = new Gemma2ForCausalLM(parseGemma2Config(JSON.parse(fs.readFileSync(configFile, 'utf8'))), { seed: 9 });
    LoraModel.load(model, checkpoint).training = false;
    expect(run.stdout.trim().split(' ').map(Number)).toEqual(greedy(model));
    const merged = path.join(dir, 'merged');
    const merge = await gemma2InProcess('merge', '--adapter', checkpoint, '--out', merged);
    expect(merge.stdout).toContain(`wrote ${merged}: config.json, model.safetensors (F32, the --init weights were float32)`);
  });
});

describe('gemma2 merge', () => {
  test('writes a Hugging Face folder whose logits equal the adapter model\'s, with the base\'s tokenizer files', async () => {
    const out = path.join(tempDir('merged'), 'merged');
    const run = await gemma2InProcess('merge', '--adapter', adapter, '--out', out);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`wrote ${out}: config.json, model.safetensors (F32, as the base stores it)`);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const merged = logitsOf(Gemma2ForCausalLM.fromPretrained(out));
    const adapted = logitsOf(withAdapter(base, adapter, 'float32'));
    const plain = logitsOf(Gemma2ForCausalLM.fromPretrained(base));
    let mergeError = 0;
    let adapterEffect = 0;
    merged.forEach((v, i) => {
      mergeError = Math.max(mergeError, Math.abs(v - adapted[i]));
      adapterEffect = Math.max(adapterEffect, Math.abs(adapted[i] - plain[i]));
    });
    expect(mergeError).toBeLessThan(1e-4); // float32 sums in another order
    expect(adapterEffect).toBeGreaterThan(1e-2); // the merge had something to fold in
    // Transformers' from_pretrained reads the folder: a plain Gemma2ForCausalLM config
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({ architectures: ['Gemma2ForCausalLM'], torch_dtype: 'float32', vocab_size: 256 });
  });

  test('a non-empty --out is refused unless --overwrite, which replaces it', async () => {
    const out = tempDir('merge-out');
    fs.writeFileSync(path.join(out, 'precious.txt'), 'keep me');
    const refused = await gemma2InProcess('merge', '--adapter', adapter, '--out', out);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`gemma2: merge: --out ${out} is not empty; choose another folder, or add --overwrite to replace it`);
    expect(fs.readdirSync(out)).toEqual(['precious.txt']);
    const replaced = await gemma2InProcess('merge', '--adapter', adapter, '--out', out, '--overwrite');
    expect(replaced.status).toBe(0);
    expect(fs.existsSync(path.join(out, 'precious.txt'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(true);
    const intoBase = await gemma2InProcess('merge', '--adapter', adapter, '--out', base, '--overwrite');
    expect(intoBase.stderr).toContain(`gemma2: merge: --out ${base} is the folder the model is read from; choose another`);
    expect(fs.existsSync(path.join(base, 'model.safetensors'))).toBe(true);
  });

  test('a bf16 base gives a bf16 merged checkpoint', async () => {
    const bf16Adapter = tempDir('bf16-adapter');
    saveRandomAdapter(goldenPath('models/tiny-bf16'), bf16Adapter, 3);
    const out = path.join(tempDir('bf16-merged'), 'out');
    const run = await gemma2InProcess('merge', '--adapter', bf16Adapter, '--out', out);
    expect(run.status).toBe(0);
    const file = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    try {
      expect(new Set(file.names().map((n) => file.info(n).dtype))).toEqual(new Set(['BF16']));
    } finally {
      file.close();
    }
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    expect(run.stdout).toContain('no tokenizer files: neither the base nor the adapter folder has tokenizer.json');
    // bf16 rounding of the merged weights: logits within bf16's relative precision of the float32 merge
    const merged = logitsOf(Gemma2ForCausalLM.fromPretrained(out));
    const adapted = logitsOf(withAdapter(goldenPath('models/tiny-bf16'), bf16Adapter, 'float32'));
    const scale = Math.max(...adapted.map(Math.abs));
    merged.forEach((v, i) => expect(Math.abs(v - adapted[i])).toBeLessThan(0.05 * scale));
  });
});
