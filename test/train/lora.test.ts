// LoRA: a fresh adapter leaves the model's output unchanged (B = 0); training
// moves only the adapter tensors; merging folds the update into the base
// weights and reproduces the adapted model; PEFT's file layout round-trips.

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { LoraModel, ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../../lib/train/lora.ts';
import { AdamW } from '../../lib/train/optimizer.ts';
import { SafetensorsFile } from '../../lib/io/safetensors.ts';
import { randomModel } from '../model/arbitraries.ts';
import { tempDir } from '../temp-dir.ts';

const config = parseGemma2Config({
  vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
  head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 4,
});
const ids = Tensor.fromData(Int32Array.from({ length: 20 }, (_, i) => (i * 7 + 3) % 40), [2, 10]);
const logitsOf = (model: Gemma2ForCausalLM) => Array.from(noGrad(() => model.forward({ inputIds: ids }).logits.contiguousData()));
const weightsOf = (model: Gemma2ForCausalLM) => model.namedParameters().map(([, p]) => Array.from(p.contiguousData()));

function train(lora: LoraModel, steps: number): number[] {
  const optimizer = new AdamW(lora.trainableParameters().map(([, p]) => p), { lr: 0.05, weightDecay: 0 });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    optimizer.zeroGrad();
    const { loss } = lora.model.forward({ inputIds: ids, labels: ids });
    losses.push(loss!.item());
    loss!.backward();
    optimizer.step();
  }
  return losses;
}

describe('LoRA', () => {
  test('a fresh adapter changes nothing; the trainable count is r (in + out) per adapted projection', () => {
    const model = randomModel(config, 3);
    const before = logitsOf(model);
    const lora = new LoraModel(model, { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'] });
    expect(logitsOf(model)).toEqual(before);
    // q_proj 16 -> 16, v_proj 16 -> 8, two layers
    expect(lora.parameterCount().trainable).toBe(2 * (4 * (16 + 16) + 4 * (16 + 8)));
    expect(lora.trainableParameters().map(([n]) => n).slice(0, 2)).toEqual([
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
    ]);
  });

  test('training moves only the adapters (base weights bit-identical) and lowers the loss', () => {
    const model = randomModel(config, 4);
    const base = weightsOf(model);
    const lora = new LoraModel(model, { r: 2, alpha: 4, dropout: 0.1, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'down_proj'] }, 7);
    const losses = train(lora, 15);
    expect(losses[14]).toBeLessThan(losses[0]);
    expect(weightsOf(model)).toEqual(base);
    for (const [name, p] of lora.trainableParameters()) if (name.endsWith('lora_B.weight')) expect(p.contiguousData().some((v) => v !== 0), name).toBe(true);
  });

  test('merge folds alpha/r B A into the weights and reproduces the adapted model', () => {
    const model = randomModel(config, 5);
    const lora = new LoraModel(model, { r: 3, alpha: 6, dropout: 0, targetModules: ['q_proj', 'gate_proj'] });
    train(lora, 5);
    lora.training = false;
    const adapted = logitsOf(model);
    const [name, { linear, adapter }] = [...lora.adapters][0];
    const w = Array.from(linear.weight.contiguousData());
    const a = Array.from(adapter.a.contiguousData());
    const b = Array.from(adapter.b.contiguousData());
    lora.merge();
    expect(lora.adapters.size).toBe(0);
    // W'[o][i] = W[o][i] + 2 * sum_k B[o][k] A[k][i] (alpha / r = 6 / 3)
    const merged = linear.weight.contiguousData();
    for (let o = 0; o < 16; o++) {
      for (let i = 0; i < 16; i++) {
        let update = 0;
        for (let k = 0; k < 3; k++) update += b[o * 3 + k] * a[k * 16 + i];
        expect(Math.abs(merged[o * 16 + i] - (w[o * 16 + i] + 2 * update)), name).toBeLessThan(1e-6);
      }
    }
    logitsOf(model).forEach((v, i) => expect(Math.abs(v - adapted[i])).toBeLessThan(1e-4));
  });

  test('save and load use PEFT names and adapter_config.json, and round-trip exactly', () => {
    const model = randomModel(config, 6);
    const lora = new LoraModel(model, { r: 2, alpha: 16, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] });
    train(lora, 3);
    lora.training = false;
    const adapted = logitsOf(model);
    const dir = tempDir('lora');
    lora.save(dir, 'golden/models/tiny');
    const saved = JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG), 'utf8'));
    expect(saved).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'], task_type: 'CAUSAL_LM' });
    const file = SafetensorsFile.open(path.join(dir, ADAPTER_WEIGHTS));
    expect(file.names()).toContain('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight');
    expect(file.info('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight').shape).toEqual([8, 2]);
    file.close();
    const fresh = randomModel(config, 6);
    const loaded = LoraModel.load(fresh, dir);
    loaded.training = false;
    expect(logitsOf(fresh)).toEqual(adapted);
  });

  test('errors name the problem', () => {
    const model = randomModel(config, 7);
    expect(() => new LoraModel(model, { r: 0, alpha: 1, dropout: 0, targetModules: ['q_proj'] })).toThrow(/r must be a positive integer/);
    expect(() => new LoraModel(model, { r: 2, alpha: 1, dropout: 0, targetModules: ['qkv'] })).toThrow(/target module "qkv" matches no projection; the model has q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
    new LoraModel(model, { r: 2, alpha: 1, dropout: 0, targetModules: ['q_proj'] });
    expect(() => new LoraModel(model, { r: 2, alpha: 1, dropout: 0, targetModules: ['q_proj'] })).toThrow(/already has an adapter/);
    expect(() => LoraModel.load(randomModel(config, 8), os.tmpdir())).toThrow(/no adapter_config\.json/);
  });
});
