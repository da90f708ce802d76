// fromPretrained / savePretrained: round trips (F32, BF16, shards), prefix
// handling between base and head models, and malformed checkpoints reported by
// name: missing, unexpected and mis-shaped weights, truncated files, bad configs.

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Gemma2Model } from '../../lib/model/gemma2-model.ts';
import { Gemma2ForSequenceClassification } from '../../lib/model/classification.ts';
import { loadPretrained, WeightLoadError } from '../../lib/model/pretrained.ts';
import { SafetensorsFile, writeSafetensors } from '../../lib/io/safetensors.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { f32ToBf16, bf16ToF32 } from '../../lib/io/float-formats.ts';
import { goldenPath } from '../golden-files.ts';

const tmp = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `gemma2-${label}-`));
const ids = Tensor.fromData(Int32Array.from([2, 17, 99, 5, 31, 200]), [1, 6]);

/** A copy of the tiny golden model whose weights pass through `edit` (name -> data, or null to drop). */
function editedTiny(edit: (name: string, shape: number[], data: Float32Array) => { name?: string; shape?: number[]; data?: Float32Array } | null): string {
  const dir = tmp('edited');
  fs.copyFileSync(goldenPath('models/tiny/config.json'), path.join(dir, 'config.json'));
  const source = SafetensorsFile.open(goldenPath('models/tiny/model.safetensors'));
  const tensors = [];
  for (const name of source.names()) {
    const shape = [...source.info(name).shape];
    const edited = edit(name, shape, source.readFloat32(name));
    if (edited === null) continue;
    tensors.push({ name: edited.name ?? name, dtype: 'F32' as const, shape: edited.shape ?? shape, data: edited.data ?? source.readFloat32(name) });
  }
  source.close();
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  return dir;
}

describe('round trips', () => {
  const original = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
  const logits = noGrad(() => original.forward({ inputIds: ids }).logits.contiguousData());

  test('F32, one file and shards: identical weights and logits', () => {
    for (const maxShardBytes of [undefined, 100_000]) {
      const dir = tmp('save');
      original.savePretrained(dir, { maxShardBytes });
      expect(fs.existsSync(path.join(dir, maxShardBytes ? 'model.safetensors.index.json' : 'model.safetensors'))).toBe(true);
      const reloaded = Gemma2ForCausalLM.fromPretrained(dir);
      reloaded.namedParameters().forEach(([name, p], i) => {
        expect(Array.from(p.contiguousData()), name).toEqual(Array.from(original.namedParameters()[i][1].contiguousData()));
      });
      expect(Array.from(noGrad(() => reloaded.forward({ inputIds: ids }).logits.contiguousData()))).toEqual(Array.from(logits));
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).architectures).toEqual(['Gemma2ForCausalLM']);
    }
  });

  test('BF16: weights come back rounded to bfloat16, config says so', () => {
    const dir = tmp('bf16');
    original.savePretrained(dir, { dtype: 'BF16' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const reloaded = Gemma2ForCausalLM.fromPretrained(dir);
    const [name, p] = reloaded.namedParameters()[1];
    const expected = bf16ToF32(f32ToBf16(original.namedParameters()[1][1].contiguousData() as Float32Array));
    expect(Array.from(p.contiguousData()), name).toEqual(Array.from(expected));
  });

  test('the sharded bf16 golden checkpoint loads', () => {
    const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny-bf16'));
    expect(model.config.torchDtype).toBe('bfloat16');
  });
});

describe('names between base and head models', () => {
  test('a bare Gemma2Model loads a causal-LM checkpoint (model.* prefix dropped)', () => {
    const { model, report } = loadPretrained(goldenPath('models/tiny'), (config) => Gemma2Model.create(config));
    expect(report).toEqual({ missing: [], unexpected: [], unused: [], mismatched: [] });
    expect(model.namedParameters()[0][0]).toBe('embed_tokens.weight');
  });

  test('a causal LM loads a bare Gemma2Model checkpoint (prefix added)', () => {
    const dir = tmp('base');
    Gemma2Model.fromPretrained(goldenPath('models/tiny')).savePretrained(dir);
    expect(SafetensorsFile.open(path.join(dir, 'model.safetensors')).names()[0]).toBe('embed_tokens.weight');
    const lm = Gemma2ForCausalLM.fromPretrained(dir);
    expect(lm.namedParameters()[0][0]).toBe('model.embed_tokens.weight');
  });

  test('a classifier from a causal-LM checkpoint misses its score weight; non-strict loading reports it', () => {
    expect(() => Gemma2ForSequenceClassification.fromPretrained(goldenPath('models/tiny'))).toThrow(/missing: score\.weight/);
    const { report } = loadPretrained(goldenPath('models/tiny'), (config) => new Gemma2ForSequenceClassification(config, { seed: 1 }), { strict: false });
    expect(report.missing).toEqual(['score.weight']);
  });

  test("another head's weights are unused, not errors", () => {
    const { report } = loadPretrained(goldenPath('models/tiny-seqcls'), (config) => Gemma2Model.create(config));
    expect(report.unused).toEqual(['score.weight']);
  });
});

describe('malformed checkpoints are errors that name the weight, the file or the field', () => {
  test('missing, unexpected and mis-shaped weights are all listed at once', () => {
    const dir = editedTiny((name, shape, data) => {
      if (name === 'model.layers.0.mlp.up_proj.weight') return null;
      if (name === 'model.layers.1.self_attn.k_proj.weight') return { shape: [shape[1], shape[0]] };
      if (name === 'model.norm.weight') return { name: 'model.final_norm.weight', data };
      return {};
    });
    let message = '';
    try {
      Gemma2ForCausalLM.fromPretrained(dir);
    } catch (error) {
      expect(error).toBeInstanceOf(WeightLoadError);
      message = (error as Error).message;
    }
    expect(message).toContain('the checkpoint does not fit the model (4 problems)');
    expect(message).toContain('missing: model.layers.0.mlp.up_proj.weight');
    expect(message).toContain('missing: model.norm.weight');
    expect(message).toContain('unexpected: model.final_norm.weight');
    expect(message).toContain('wrong shape: model.layers.1.self_attn.k_proj.weight is [64,32] in the checkpoint, the model expects [32,64]');
  });

  test('a truncated weight file names the file', () => {
    const dir = tmp('truncated');
    fs.copyFileSync(goldenPath('models/tiny/config.json'), path.join(dir, 'config.json'));
    const bytes = fs.readFileSync(goldenPath('models/tiny/model.safetensors'));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    expect(() => Gemma2ForCausalLM.fromPretrained(dir)).toThrow(new RegExp(`${path.join(dir, 'model.safetensors').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  test('a contradictory config names config.json and the fields', () => {
    const dir = tmp('config');
    const config = JSON.parse(fs.readFileSync(goldenPath('models/tiny/config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, num_key_value_heads: 3 }));
    fs.copyFileSync(goldenPath('models/tiny/model.safetensors'), path.join(dir, 'model.safetensors'));
    expect(() => Gemma2ForCausalLM.fromPretrained(dir)).toThrow(/config\.json: config: num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
  });

  test('a folder without weights, or that does not exist, says so', () => {
    const dir = tmp('empty');
    fs.copyFileSync(goldenPath('models/tiny/config.json'), path.join(dir, 'config.json'));
    expect(() => Gemma2ForCausalLM.fromPretrained(dir)).toThrow(/model\.safetensors/);
    expect(() => Gemma2ForCausalLM.fromPretrained(path.join(dir, 'nope'))).toThrow(/not a folder/);
  });
});
