// Hugging Face model folders: the golden models (single file and sharded),
// save/load round trips in F32, BF16 and F16, save_pretrained's sharding rule
// and index, and every way a folder can be inconsistent.

import { describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, openCheckpoint, saveCheckpoint, type WeightToSave } from '../../lib/io/checkpoint.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../lib/io/float-formats.ts';
import { SafetensorsError, SafetensorsFile, serializeSafetensors } from '../../lib/io/safetensors.ts';
import { expectedGemma2Shapes, goldenPath } from '../golden-files.ts';
import { tempDir } from '../temp-dir.ts';

const tmp = tempDir('checkpoint');
let folders = 0;
/** A fresh empty folder under the test's temp dir. */
function freshDir(): string {
  return path.join(tmp, `ckpt-${folders++}`);
}

function weight(name: string, shape: number[], seed: number): WeightToSave & { data: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i) * 3) };
}

const CONFIG = { model_type: 'gemma2', hidden_size: 8, vocab_size: 16, rms_norm_eps: 1e-6, nested: { b: 1, a: [2, { d: 0, c: null }] } };
// 16x8 F32 = 512 bytes, 8x8 = 256, 8 = 32 (BF16: half of each).
const WEIGHTS = [weight('model.embed_tokens.weight', [16, 8], 1), weight('model.layers.0.q.weight', [8, 8], 2), weight('model.layers.0.norm.weight', [8], 3), weight('model.norm.weight', [8], 4)];

function expectError(run: () => unknown, type: typeof CheckpointError | typeof SafetensorsError, message: RegExp): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${type.name} matching ${message}`).toBeInstanceOf(type);
  expect((thrown as Error).message).toMatch(message);
}

function readIndex(dir: string): { metadata: { total_size: number }; weight_map: Record<string, string> } {
  return JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
}

describe('golden models', () => {
  test('models/tiny: one model.safetensors, every weight with the shape config.json implies', () => {
    const ckpt = openCheckpoint(goldenPath('models/tiny'));
    expect(ckpt.files).toEqual(['model.safetensors']);
    expect(ckpt.config.model_type).toBe('gemma2');
    const shapes = expectedGemma2Shapes(ckpt.config);
    expect(new Set(ckpt.names())).toEqual(new Set(shapes.keys()));
    for (const name of ckpt.names()) {
      expect(ckpt.info(name)).toEqual({ name, shape: shapes.get(name), dtype: 'F32', file: 'model.safetensors' });
    }
    expect(ckpt.readFloat32('model.embed_tokens.weight').length).toBe(256 * 64);
    expectError(() => ckpt.info('model.layers.0.self_attn.q_proj.weigth'), CheckpointError, /models\/tiny: no weight "model\.layers\.0\.self_attn\.q_proj\.weigth"; the checkpoint has 46 tensors, e\.g\. "model\.layers\.0\.self_attn\.q_proj\.weight"/);
    ckpt.close();
  });

  test('models/tiny-bf16: two shards through the index, BF16, the implied shapes', () => {
    const dir = goldenPath('models/tiny-bf16');
    const ckpt = openCheckpoint(dir);
    expect(ckpt.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const shapes = expectedGemma2Shapes(ckpt.config);
    expect(new Set(ckpt.names())).toEqual(new Set(shapes.keys()));
    const index = readIndex(dir);
    let bytes = 0;
    for (const name of ckpt.names()) {
      const info = ckpt.info(name);
      expect(info.dtype).toBe('BF16');
      expect(info.shape).toEqual(shapes.get(name));
      expect(info.file).toBe(index.weight_map[name]);
      bytes += info.shape.reduce((a, b) => a * b, 1) * 2;
    }
    expect(index.metadata.total_size).toBe(bytes);
    // Widened exactly: narrowing again gives the stored bits.
    const embed = ckpt.readFloat32('model.embed_tokens.weight');
    const stored = SafetensorsFile.open(path.join(dir, 'model-00001-of-00002.safetensors'));
    expect(f32ToBf16(embed)).toEqual(new Uint16Array(stored.readBytes('model.embed_tokens.weight').buffer));
    stored.close();
    ckpt.close();
  });

  test('re-saving models/tiny-bf16 with its split reproduces the shards and the index byte for byte', () => {
    const source = goldenPath('models/tiny-bf16');
    const ckpt = openCheckpoint(source);
    // Shard 1 holds 181248 bytes and the next weight is 8192: any limit in between gives the golden split.
    const weights = ckpt.names().map((name) => ({ name, shape: ckpt.info(name).shape, data: ckpt.readFloat32(name) }));
    const dir = freshDir();
    const saved = saveCheckpoint(dir, ckpt.config, weights, { dtype: 'BF16', maxShardBytes: 185_000 });
    expect(saved).toEqual({ files: ckpt.files, totalSize: 329856 });
    for (const file of [...ckpt.files, 'model.safetensors.index.json']) {
      expect(fs.readFileSync(path.join(dir, file)).equals(fs.readFileSync(path.join(source, file))), file).toBe(true);
    }
    // config.json: same JSON (Python writes 0.0 and 1e-06 where JavaScript writes 0 and 0.000001).
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))).toEqual(ckpt.config);
    ckpt.close();
  });
});

describe('save and load', () => {
  test.each(['F32', 'BF16', 'F16'] as const)('one file, %s', (dtype) => {
    const dir = freshDir();
    const saved = saveCheckpoint(dir, CONFIG, WEIGHTS, { dtype });
    const size = dtype === 'F32' ? 4 : 2;
    expect(saved).toEqual({ files: ['model.safetensors'], totalSize: (128 + 64 + 8 + 8) * size });
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    const ckpt = openCheckpoint(dir);
    expect(ckpt.config).toEqual(CONFIG);
    expect(ckpt.names()).toEqual(WEIGHTS.map((w) => w.name));
    const file = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt' });
    file.close();
    for (const w of WEIGHTS) {
      expect(ckpt.info(w.name)).toMatchObject({ shape: w.shape, dtype });
      const expected = dtype === 'F32' ? w.data : dtype === 'BF16' ? bf16ToF32(f32ToBf16(w.data)) : f16ToF32(f32ToF16(w.data));
      expect(ckpt.readFloat32(w.name)).toEqual(expected);
    }
    ckpt.close();
  });

  test('config.json is written like Transformers: keys sorted at every level, indent 2, final newline', () => {
    const dir = freshDir();
    saveCheckpoint(dir, CONFIG, WEIGHTS);
    const text = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
    expect(text).toBe(`${JSON.stringify({ hidden_size: 8, model_type: 'gemma2', nested: { a: [2, { c: null, d: 0 }], b: 1 }, rms_norm_eps: 1e-6, vocab_size: 16 }, null, 2)}\n`);
  });

  test.each(['F32', 'BF16'] as const)('sharded, %s: save_pretrained names, index weight_map and total_size, format "pt" in every shard', (dtype) => {
    const dir = freshDir();
    const size = dtype === 'F32' ? 4 : 2;
    // Limit: the embedding fills a shard; q + both norms fit the next.
    const saved = saveCheckpoint(dir, CONFIG, WEIGHTS, { dtype, maxShardBytes: 128 * size + 1 });
    expect(saved.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(saved.totalSize).toBe(208 * size);
    const index = readIndex(dir);
    expect(index.metadata).toEqual({ total_size: 208 * size });
    expect(Object.keys(index.weight_map)).toEqual(WEIGHTS.map((w) => w.name).sort());
    expect(index.weight_map).toEqual({
      'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
      'model.layers.0.q.weight': 'model-00002-of-00002.safetensors',
      'model.layers.0.norm.weight': 'model-00002-of-00002.safetensors',
      'model.norm.weight': 'model-00002-of-00002.safetensors',
    });
    for (const file of saved.files) {
      const shard = SafetensorsFile.open(path.join(dir, file));
      expect(shard.metadata).toEqual({ format: 'pt' });
      shard.close();
    }
    const ckpt = openCheckpoint(dir);
    expect(ckpt.files).toEqual(saved.files);
    for (const w of WEIGHTS) {
      const expected = dtype === 'F32' ? w.data : bf16ToF32(f32ToBf16(w.data));
      expect(ckpt.readFloat32(w.name)).toEqual(expected);
      expect(ckpt.info(w.name).file).toBe(index.weight_map[w.name]);
    }
    ckpt.close();
  });

  test("huggingface_hub's split: a weight over the limit gets a shard of its own, the others fill shards in order", () => {
    // Byte sizes (F32) 40, 40, 100, 8, 60 with a 64-byte limit.
    const weights = [weight('a', [10], 1), weight('b', [10], 2), weight('big', [25], 3), weight('c', [2], 4), weight('d', [15], 5)];
    const dir = freshDir();
    const saved = saveCheckpoint(dir, CONFIG, weights, { maxShardBytes: 64 });
    expect(saved.files).toHaveLength(4);
    const map = readIndex(dir).weight_map;
    const shardOf = (name: string) => saved.files.indexOf(map[name]) + 1;
    // [a] closes when b would overflow it; big goes out alone at once; b and c share; d starts the last.
    expect(weights.map((w) => shardOf(w.name))).toEqual([1, 3, 2, 3, 4]);
    expect(saved.totalSize).toBe(248);
    const ckpt = openCheckpoint(dir);
    for (const w of weights) expect(ckpt.readFloat32(w.name)).toEqual(w.data);
    ckpt.close();
  });

  test('saving over an earlier save removes its stale weight files, either way', () => {
    const dir = freshDir();
    saveCheckpoint(dir, CONFIG, WEIGHTS, { maxShardBytes: 300 });
    expect(fs.readdirSync(dir)).toContain('model-00003-of-00003.safetensors');
    fs.writeFileSync(path.join(dir, 'README.md'), 'kept');
    saveCheckpoint(dir, CONFIG, WEIGHTS.slice(0, 2), { maxShardBytes: 600 });
    expect(fs.readdirSync(dir).sort()).toEqual(['README.md', 'config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    saveCheckpoint(dir, CONFIG, WEIGHTS);
    expect(fs.readdirSync(dir).sort()).toEqual(['README.md', 'config.json', 'model.safetensors']);
    saveCheckpoint(dir, CONFIG, WEIGHTS, { maxShardBytes: 600 });
    // A stale model.safetensors would shadow the shards (it is read first), so it must go.
    expect(fs.readdirSync(dir)).not.toContain('model.safetensors');
    const ckpt = openCheckpoint(dir);
    expect(ckpt.names()).toEqual(WEIGHTS.map((w) => w.name));
    ckpt.close();
  });

  test('bad input is an error before anything is written', () => {
    const dir = freshDir();
    expectError(() => saveCheckpoint(dir, CONFIG, [WEIGHTS[0], WEIGHTS[0]]), SafetensorsError, /tensor "model\.embed_tokens\.weight": appears twice/);
    expectError(() => saveCheckpoint(dir, CONFIG, [{ ...WEIGHTS[1], shape: [8, 9] }]), SafetensorsError, /tensor "model\.layers\.0\.q\.weight": shape \[8,9\] has 72 elements, the data holds 64/);
    expectError(() => saveCheckpoint(dir, CONFIG, [{ name: 'x', shape: [2], data: [1, 2] as unknown as Float32Array }]), CheckpointError, /weight "x": data must be a Float32Array/);
    expectError(() => saveCheckpoint(dir, CONFIG, WEIGHTS, { dtype: 'F64' as 'F32' }), CheckpointError, /saveCheckpoint stores F32, BF16 or F16, not "F64"/);
    expectError(() => saveCheckpoint(dir, CONFIG, WEIGHTS, { maxShardBytes: 0 }), CheckpointError, /maxShardBytes must be positive, found 0/);
    expectError(() => saveCheckpoint(dir, [] as unknown as Record<string, unknown>, WEIGHTS), CheckpointError, /the model config must be a JSON object/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('inconsistent folders are errors naming the folder and the file or weight', () => {
  /** A sharded checkpoint (3 shards) to break. */
  function sharded(): string {
    const dir = freshDir();
    saveCheckpoint(dir, CONFIG, WEIGHTS, { maxShardBytes: 300 });
    return dir;
  }
  function editIndex(dir: string, edit: (index: { metadata: unknown; weight_map: Record<string, string> }) => unknown): void {
    const index = readIndex(dir);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(edit(index) ?? index));
  }
  const shard = (i: number): string => `model-0000${i}-of-00003.safetensors`;

  test('not a folder; no config.json; config.json not JSON or not an object', () => {
    expectError(() => openCheckpoint(path.join(tmp, 'missing')), CheckpointError, /missing: not a folder/);
    const dir = sharded();
    fs.renameSync(path.join(dir, 'config.json'), path.join(dir, 'config.bak'));
    expectError(() => openCheckpoint(dir), CheckpointError, new RegExp(`${path.basename(dir)}: no config\\.json in the folder`));
    fs.writeFileSync(path.join(dir, 'config.json'), '{"hidden_size": 8,');
    expectError(() => openCheckpoint(dir), CheckpointError, /config\.json: the model config is not valid JSON/);
    fs.writeFileSync(path.join(dir, 'config.json'), '[1]');
    expectError(() => openCheckpoint(dir), CheckpointError, /config\.json: the model config must be a JSON object/);
  });

  test('neither model.safetensors nor an index (with a hint when other weight files are there)', () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    expectError(() => openCheckpoint(dir), CheckpointError, /no weights: neither model\.safetensors nor model\.safetensors\.index\.json is in the folder$/);
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), '');
    expectError(() => openCheckpoint(dir), CheckpointError, /\(found pytorch_model\.bin; only safetensors checkpoints are read\)/);
  });

  test('index not JSON, or without a weight_map, or with a non-file entry', () => {
    const dir = sharded();
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
    expectError(() => openCheckpoint(dir), CheckpointError, /model\.safetensors\.index\.json: the weight index is not valid JSON/);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"metadata": {}}');
    expectError(() => openCheckpoint(dir), CheckpointError, /the index must be a JSON object with a "weight_map" object/);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": {"a": 3}}');
    expectError(() => openCheckpoint(dir), CheckpointError, /weight_map\["a"\] must be a file name, found 3/);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": {"a": "../elsewhere.safetensors"}}');
    expectError(() => openCheckpoint(dir), CheckpointError, /weight_map\["a"\] names "\.\.\/elsewhere\.safetensors", which is not a file name in this folder/);
  });

  test('a listed shard is missing', () => {
    const dir = sharded();
    fs.rmSync(path.join(dir, shard(2)));
    expectError(() => openCheckpoint(dir), CheckpointError, new RegExp(`shard ${shard(2)} is missing \\(model\\.safetensors\\.index\\.json puts 2 weights there, e\\.g\\. "model\\.layers\\.0\\.norm\\.weight"\\)`));
  });

  test('the index lacks a weight a shard holds', () => {
    const dir = sharded();
    editIndex(dir, (index) => void delete index.weight_map['model.layers.0.norm.weight']);
    expectError(() => openCheckpoint(dir), CheckpointError, new RegExp(`shard ${shard(2)} holds "model\\.layers\\.0\\.norm\\.weight", which model\\.safetensors\\.index\\.json does not list`));
  });

  test('the index names a weight its shard lacks', () => {
    const dir = sharded();
    editIndex(dir, (index) => void (index.weight_map['model.extra.weight'] = shard(1)));
    expectError(() => openCheckpoint(dir), CheckpointError, new RegExp(`puts "model\\.extra\\.weight" in ${shard(1)}, which does not hold it`));
  });

  test('the index puts a weight in the wrong shard', () => {
    const dir = sharded();
    editIndex(dir, (index) => void (index.weight_map['model.layers.0.norm.weight'] = shard(1)));
    expectError(() => openCheckpoint(dir), CheckpointError, new RegExp(`puts "model\\.layers\\.0\\.norm\\.weight" in ${shard(1)}, but it is in ${shard(2)}`));
  });

  test('a weight in two shards', () => {
    const dir = sharded();
    const twin = serializeSafetensors(
      [
        { name: 'model.norm.weight', dtype: 'F32', shape: [8], data: new Float32Array(8) },
        { name: 'model.extra.weight', dtype: 'F32', shape: [1], data: new Float32Array(1) },
      ],
      { format: 'pt' },
    );
    fs.writeFileSync(path.join(dir, 'model-extra.safetensors'), twin);
    editIndex(dir, (index) => void (index.weight_map['model.extra.weight'] = 'model-extra.safetensors'));
    expectError(() => openCheckpoint(dir), CheckpointError, new RegExp(`weight "model\\.norm\\.weight" is in two shards, ${shard(3)} and model-extra\\.safetensors`));
  });

  test('a malformed shard is the SafetensorsError naming the shard', () => {
    const dir = sharded();
    const file = path.join(dir, shard(3));
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
    expectError(() => openCheckpoint(dir), SafetensorsError, new RegExp(`${shard(3)}: (header length \\d+ runs past|tensor .* lie outside)`));
  });
});
