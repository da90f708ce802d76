// fromPretrained / savePretrained (PreTrainedModel, shared by the four model
// classes): round trips (F32, BF16, shards, to disk and to memory), parameter
// names and architecture names per class, prefix handling between base and
// head models, and malformed checkpoints reported by name: missing,
// unexpected and mis-shaped weights, truncated files, bad configs, a path
// where there is no file system.

import { describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Gemma2Model } from '../../lib/model/gemma2-model.ts';
import { Gemma2ForSequenceClassification, Gemma2ForTokenClassification } from '../../lib/model/classification.ts';
import { loadPretrained, WeightLoadError } from '../../lib/model/pretrained.ts';
import { PreTrainedModel, type PreTrainedModelClass } from '../../lib/model/pretrained-model.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { MemoryModelFolder } from '../../lib/io/memory-folder.ts';
import { CheckpointError } from '../../lib/io/checkpoint.ts';
import { SafetensorsFile, writeSafetensors } from '../../lib/io/safetensors.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { f32ToBf16, bf16ToF32 } from '../../lib/io/float-formats.ts';
import { goldenPath } from '../golden-files.ts';
import { tempDir } from '../temp-dir.ts';

const root = tempDir('pretrained');
const tmp = (label: string) => fs.mkdtempSync(path.join(root, `${label}-`));
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

  test('BF16: weights come back rounded to bfloat16 (kept in bf16 by default, widened with weightDtype float32), config says so', () => {
    const dir = tmp('bf16');
    original.savePretrained(dir, { dtype: 'BF16' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const rounded = f32ToBf16(original.namedParameters()[1][1].contiguousData() as Float32Array);
    const [name, kept] = Gemma2ForCausalLM.fromPretrained(dir).namedParameters()[1];
    expect(kept.dtype).toBe('bfloat16');
    expect(Array.from(kept.contiguousData()), name).toEqual(Array.from(rounded));
    const [, widened] = Gemma2ForCausalLM.fromPretrained(dir, { weightDtype: 'float32' }).namedParameters()[1];
    expect(widened.dtype).toBe('float32');
    expect(Array.from(widened.contiguousData()), name).toEqual(Array.from(bf16ToF32(rounded)));
  });

  test('the sharded bf16 golden checkpoint loads', () => {
    const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny-bf16'));
    expect(model.config.torchDtype).toBe('bfloat16');
  });
});

describe('PreTrainedModel: one base class for the four model classes', () => {
  const config = parseGemma2Config(JSON.parse(fs.readFileSync(goldenPath('models/tiny/config.json'), 'utf8')));
  const classes = [Gemma2Model, Gemma2ForCausalLM, Gemma2ForSequenceClassification, Gemma2ForTokenClassification];

  test('architecture names and parameter names, as Transformers writes them', () => {
    expect(classes.map((c) => c.architecture)).toEqual(['Gemma2Model', 'Gemma2ForCausalLM', 'Gemma2ForSequenceClassification', 'Gemma2ForTokenClassification']);
    const names = (model: PreTrainedModel) => model.namedParameters().map(([name]) => name);
    const base = names(new Gemma2Model(config));
    expect(base.slice(0, 2)).toEqual(['embed_tokens.weight', 'layers.0.self_attn.q_proj.weight']);
    expect(base.at(-1)).toBe('norm.weight');
    expect(base.length).toBe(2 + 11 * config.numHiddenLayers);
    const prefixed = base.map((n) => `model.${n}`);
    expect(names(new Gemma2ForCausalLM(config))).toEqual(prefixed); // tied head: no lm_head.weight
    expect(names(new Gemma2ForCausalLM({ ...config, tieWordEmbeddings: false }))).toEqual([...prefixed, 'lm_head.weight']);
    expect(names(new Gemma2ForSequenceClassification(config))).toEqual([...prefixed, 'score.weight']);
    expect(names(new Gemma2ForTokenClassification(config))).toEqual([...prefixed, 'score.weight', 'score.bias']);
    for (const c of classes) expect(new c(config)).toBeInstanceOf(PreTrainedModel);
  });

  test('each class saves under its own architecture and loads back as itself, through memory', () => {
    const roundTrip = (ModelClass: PreTrainedModelClass<PreTrainedModel>, original: PreTrainedModel, load: (folder: MemoryModelFolder) => PreTrainedModel) => {
      const folder = new MemoryModelFolder({}, ModelClass.architecture);
      original.savePretrained(folder, { maxShardBytes: 60_000 });
      expect(JSON.parse(folder.readText('config.json')).architectures).toEqual([ModelClass.architecture]);
      expect(folder.has('model.safetensors.index.json')).toBe(true);
      const reloaded = load(folder);
      expect(reloaded).toBeInstanceOf(ModelClass);
      const expected = original.namedParameters();
      reloaded.namedParameters().forEach(([name, p], i) => {
        expect(name).toBe(expected[i][0]);
        expect(Array.from(p.contiguousData()), name).toEqual(Array.from(expected[i][1].contiguousData()));
      });
    };
    roundTrip(Gemma2Model, Gemma2Model.create(config, { seed: 5 }), (folder) => Gemma2Model.fromPretrained(folder));
    roundTrip(Gemma2ForCausalLM, new Gemma2ForCausalLM({ ...config, tieWordEmbeddings: false }, { seed: 5 }), (folder) => Gemma2ForCausalLM.fromPretrained(folder));
    roundTrip(Gemma2ForSequenceClassification, new Gemma2ForSequenceClassification(config, { seed: 5 }), (folder) => Gemma2ForSequenceClassification.fromPretrained(folder));
    roundTrip(Gemma2ForTokenClassification, new Gemma2ForTokenClassification(config, { seed: 5 }), (folder) => Gemma2ForTokenClassification.fromPretrained(folder));
  });

  test('a model loaded from bytes gives the logits of the model loaded from disk', () => {
    const dir = goldenPath('models/tiny');
    const folder = new MemoryModelFolder(fs.readdirSync(dir).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(dir, f)))]), 'tiny');
    const fromDisk = noGrad(() => Gemma2ForCausalLM.fromPretrained(dir).forward({ inputIds: ids }).logits.contiguousData());
    const fromBytes = noGrad(() => Gemma2ForCausalLM.fromPretrained(folder).forward({ inputIds: ids }).logits.contiguousData());
    expect(Array.from(fromBytes)).toEqual(Array.from(fromDisk));
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
    expect(() => Gemma2ForCausalLM.fromPretrained(path.join(dir, 'nope'))).toThrow(/nope: not a folder \(nothing exists at that path\)/);
  });

  test('errors from an in-memory folder name the file by the folder\'s label', () => {
    const tiny = goldenPath('models/tiny');
    const config = JSON.parse(fs.readFileSync(path.join(tiny, 'config.json'), 'utf8'));
    const folder = new MemoryModelFolder({ 'config.json': JSON.stringify({ ...config, num_key_value_heads: 3 }), 'model.safetensors': fs.readFileSync(path.join(tiny, 'model.safetensors')) }, 'dropped');
    expect(() => Gemma2ForCausalLM.fromPretrained(folder)).toThrow(/^dropped\/config\.json: config: num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
    folder.set('config.json', JSON.stringify(config));
    folder.set('model.safetensors', folder.bytes('model.safetensors').subarray(0, 100));
    expect(() => Gemma2ForCausalLM.fromPretrained(folder)).toThrow(/^dropped\/model\.safetensors: header length \d+ runs past the end of the file/);
  });

  test('where there is no file system (a browser), a path says to pass a MemoryModelFolder', () => {
    vi.spyOn(process, 'getBuiltinModule').mockReturnValue(undefined);
    try {
      expect(() => Gemma2ForCausalLM.fromPretrained('models/tiny')).toThrow(CheckpointError);
      expect(() => Gemma2ForCausalLM.fromPretrained('models/tiny')).toThrow(/^models\/tiny: cannot read or write a path here: .*MemoryModelFolder\.fromFiles\(fileList\)/);
      expect(() => new Gemma2Model(parseGemma2Config({ num_hidden_layers: 1, vocab_size: 8, hidden_size: 4, intermediate_size: 8, head_dim: 2, num_attention_heads: 2, num_key_value_heads: 1 })).savePretrained('out/x')).toThrow(
        /^out\/x: cannot read or write a path here/,
      );
    } finally {
      vi.restoreAllMocks();
    }
  });
});
