// LoRA (Hu et al., 2021) as PEFT implements it: a frozen Linear W gets a
// low-rank update,
//   y = x W^T + (dropout(x) A^T B^T) * alpha / r,   A [r, in], B [out, r]
// with A drawn like PyTorch's kaiming_uniform_(a = sqrt(5)), i.e. uniform in
// +-1/sqrt(in), and B zero, so training starts from the base model (PEFT's
// reset_lora_parameters, quoted in huggingface/peft#1060). Only A and
// B are trained (float32); the frozen base may stay bf16 as its checkpoint
// stores it (the default load of a bf16 checkpoint), which the products read
// as the weight operand and backprop passes through (dx = dy W) without ever
// training it. merge() folds the update into W (W += scale B A) and removes
// the adapters. Adapters are saved as PEFT does: adapter_model.safetensors with
// `base_model.model.<module>.lora_A.weight` / `lora_B.weight` and an
// adapter_config.json.
//
// On a classifier the score head is new, so it is trained fully, as PEFT's
// modules_to_save does (PEFT adds "score" for SEQ_CLS and TOKEN_CLS itself):
// it is saved under `base_model.model.score.weight` (and `.bias`), the name
// get_peft_model_state_dict writes after dropping "modules_to_save.default",
// with task_type SEQ_CLS / TOKEN_CLS and modules_to_save ["score"]. The head
// is trained in place (PEFT trains a copy and keeps the original): merging
// leaves the trained head in the model.

import fs from 'node:fs';
import path from 'node:path';
import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { noGrad } from '../autograd/tape.ts';
import { add, dropout, linear, matmul, mul } from '../ops/index.ts';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.ts';
import type { Linear, LinearAdapter, NamedParameters } from '../model/module.ts';
import type { Gemma2Model, ModelInput } from '../model/gemma2-model.ts';
import type { Gemma2Config } from '../model/config.ts';
import { Gemma2ForSequenceClassification, Gemma2ForTokenClassification } from '../model/classification.ts';

/** What LoRA adapts: a causal LM or a classifier (a decoder stack with a head). */
export interface AdaptableModel {
  readonly model: Gemma2Model;
  readonly config: Gemma2Config;
  namedParameters(): NamedParameters;
  forward(input: ModelInput & { labels?: Tensor }): { logits: Tensor; loss?: Tensor };
}

/** PEFT's task_type for the model's head, and the head module trained fully (modules_to_save), if any. */
function peftTask(model: AdaptableModel): { taskType: string; head: Linear | null } {
  if (model instanceof Gemma2ForSequenceClassification) return { taskType: 'SEQ_CLS', head: model.score };
  if (model instanceof Gemma2ForTokenClassification) return { taskType: 'TOKEN_CLS', head: model.score };
  return { taskType: 'CAUSAL_LM', head: null };
}

/** The saved name of a fully trained head's parameter (get_peft_model_state_dict's, adapter name dropped). */
const HEAD_PREFIX = 'base_model.model.score';

export interface LoraConfig {
  /** Rank of the update. */
  r: number;
  /** The update is scaled by alpha / r. */
  alpha: number;
  /** Dropout on the adapter's input while training. */
  dropout: number;
  /** Module names to adapt, matched against the last part of each projection's name (e.g. q_proj, v_proj). */
  targetModules: string[];
}

export class LoraError extends Error {
  override name = 'LoraError';
}

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';

/** Every projection of a causal LM with its Hugging Face module name (model.layers.i.self_attn.q_proj, ...). */
export function namedLinears(model: AdaptableModel): [string, Linear][] {
  return model.model.layers.flatMap((layer, i): [string, Linear][] => {
    const prefix = `model.layers.${i}`;
    const { selfAttn: a, mlp: m } = layer;
    return [
      [`${prefix}.self_attn.q_proj`, a.qProj],
      [`${prefix}.self_attn.k_proj`, a.kProj],
      [`${prefix}.self_attn.v_proj`, a.vProj],
      [`${prefix}.self_attn.o_proj`, a.oProj],
      [`${prefix}.mlp.gate_proj`, m.gateProj],
      [`${prefix}.mlp.up_proj`, m.upProj],
      [`${prefix}.mlp.down_proj`, m.downProj],
    ];
  });
}

/** One adapted projection. */
class LoraAdapter implements LinearAdapter {
  constructor(
    readonly a: Tensor, // [r, in]
    readonly b: Tensor, // [out, r]
    readonly scale: number,
    private readonly owner: LoraModel,
  ) {}

  forward(x: Tensor): Tensor {
    const input = this.owner.training && this.owner.config.dropout > 0 ? dropout(x, this.owner.config.dropout, this.owner.generator) : x;
    return mul(linear(linear(input, this.a), this.b), this.scale);
  }
}

export class LoraModel {
  /** Adapted projections by module name, in model order. */
  readonly adapters = new Map<string, { linear: Linear; adapter: LoraAdapter }>();
  /** Dropout is applied only while training. */
  training = true;
  readonly generator: Generator;

  /** A classifier's score head, trained fully (modules_to_save); null on a causal LM. */
  readonly head: Linear | null;
  readonly taskType: string;

  constructor(
    readonly model: AdaptableModel,
    readonly config: LoraConfig,
    seed = 0,
  ) {
    const { r, alpha, targetModules } = config;
    if (!Number.isInteger(r) || r < 1) throw new LoraError(`LoRA: r must be a positive integer, got ${r}`);
    if (!(alpha > 0)) throw new LoraError(`LoRA: alpha must be positive, got ${alpha}`);
    if (!(config.dropout >= 0 && config.dropout < 1)) throw new LoraError(`LoRA: dropout must be in [0, 1), got ${config.dropout}`);
    this.generator = new Generator(seed);
    const init = new Generator(seed + 1);
    const linears = namedLinears(model);
    for (const target of targetModules) {
      if (!linears.some(([name]) => name.endsWith(`.${target}`))) {
        throw new LoraError(`LoRA: target module "${target}" matches no projection; the model has ${[...new Set(linears.map(([n]) => n.split('.').pop()))].join(', ')}`);
      }
    }
    for (const [name, layer] of linears) {
      if (!targetModules.some((t) => name.endsWith(`.${t}`))) continue;
      if (layer.adapter !== null) throw new LoraError(`LoRA: ${name} already has an adapter`);
      const bound = 1 / Math.sqrt(layer.inFeatures);
      const a = Tensor.fromData(Float32Array.from({ length: r * layer.inFeatures }, () => (2 * init.nextFloat() - 1) * bound), [r, layer.inFeatures]);
      const b = Tensor.fromData(new Float32Array(layer.outFeatures * r), [layer.outFeatures, r]);
      const adapter = new LoraAdapter(a.requireGrad(), b.requireGrad(), alpha / r, this);
      layer.adapter = adapter;
      this.adapters.set(name, { linear: layer, adapter });
    }
    for (const [, p] of model.namedParameters()) p.requireGrad(false);
    ({ taskType: this.taskType, head: this.head } = peftTask(model));
    // the head is float32 in every load mode (classification.ts), so it can be trained over a bf16 base
    for (const [, p] of this.head?.namedParameters() ?? []) p.requireGrad();
  }

  /** The trainable tensors under PEFT's names. */
  trainableParameters(): [string, Tensor][] {
    const adapters = [...this.adapters].flatMap(([name, { adapter }]): [string, Tensor][] => [
      [`base_model.model.${name}.lora_A.weight`, adapter.a],
      [`base_model.model.${name}.lora_B.weight`, adapter.b],
    ]);
    const head = this.head?.namedParameters().map(([name, p]): [string, Tensor] => [`${HEAD_PREFIX}.${name}`, p]) ?? [];
    return [...adapters, ...head];
  }

  /** Number of trainable values, and of all values (base + adapters). */
  parameterCount(): { trainable: number; total: number } {
    const trainable = this.trainableParameters().reduce((n, [, p]) => n + p.size, 0);
    const head = this.head?.namedParameters().reduce((n, [, p]) => n + p.size, 0) ?? 0;
    const base = this.model.namedParameters().reduce((n, [, p]) => n + p.size, 0);
    return { trainable, total: base + trainable - head }; // the head is the model's own, counted once
  }

  /** W += (alpha / r) B A for every adapter, then removes the adapters: the model is a plain model again. Needs a float32 base. */
  merge(): void {
    const kept = [...this.adapters].filter(([, { linear: layer }]) => layer.weight.dtype !== 'float32');
    if (kept.length > 0) {
      throw new LoraError(
        `LoRA merge: ${kept[0][0]}.weight is bfloat16 (kept as its checkpoint stores it), which is read-only; load the base model with fromPretrained(dir, { weightDtype: 'float32' }) to merge`,
      );
    }
    noGrad(() => {
      for (const { linear: layer, adapter } of this.adapters.values()) {
        layer.weight.copyFrom(add(layer.weight, mul(matmul(adapter.b, adapter.a), adapter.scale)));
        layer.adapter = null;
      }
    });
    this.adapters.clear();
  }

  /** adapter_model.safetensors + adapter_config.json, as PEFT's save_pretrained writes them. */
  save(dir: string, baseModel = ''): void {
    fs.mkdirSync(dir, { recursive: true });
    const tensors = this.trainableParameters().map(([name, p]) => ({ name, dtype: 'F32' as const, shape: p.shape, data: p.contiguousData() as Float32Array }));
    writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
    const config = {
      peft_type: 'LORA',
      task_type: this.taskType,
      base_model_name_or_path: baseModel,
      r: this.config.r,
      lora_alpha: this.config.alpha,
      lora_dropout: this.config.dropout,
      target_modules: this.config.targetModules,
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
      modules_to_save: this.head === null ? null : ['score'],
      init_lora_weights: true,
      use_rslora: false,
    };
    fs.writeFileSync(path.join(dir, ADAPTER_CONFIG), `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Attaches the adapters saved in `dir` (PEFT format) to `model`; `seed` seeds dropout if training continues. */
  static load(model: AdaptableModel, dir: string, seed = 0): LoraModel {
    const configPath = path.join(dir, ADAPTER_CONFIG);
    if (!fs.existsSync(configPath)) throw new LoraError(`${dir}: no ${ADAPTER_CONFIG}`);
    const json = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    if (json.peft_type !== 'LORA') throw new LoraError(`${configPath}: peft_type is ${JSON.stringify(json.peft_type)}, expected "LORA"`);
    if (json.use_rslora) throw new LoraError(`${configPath}: rank-stabilised LoRA (use_rslora) is not supported`);
    const targets: string[] = Array.isArray(json.target_modules) ? json.target_modules : [json.target_modules];
    const lora = new LoraModel(model, { r: json.r, alpha: json.lora_alpha, dropout: json.lora_dropout ?? 0, targetModules: targets }, seed);
    if (json.task_type !== undefined && json.task_type !== null && json.task_type !== lora.taskType) {
      throw new LoraError(`${configPath}: task_type is ${JSON.stringify(json.task_type)}, but the model is a ${lora.taskType} model`);
    }
    const file = SafetensorsFile.open(path.join(dir, ADAPTER_WEIGHTS));
    try {
      const expected = new Map(lora.trainableParameters());
      const missing = [...expected.keys()].filter((n) => !file.has(n));
      const unexpected = file.names().filter((n) => !expected.has(n));
      if (missing.length + unexpected.length > 0) {
        throw new LoraError(`${dir}: adapter weights do not fit: ${[...missing.map((n) => `missing ${n}`), ...unexpected.map((n) => `unexpected ${n}`)].join('; ')}`);
      }
      for (const [name, p] of expected) {
        const shape = file.info(name).shape;
        if (shape.join(',') !== p.shape.join(',')) throw new LoraError(`${dir}: ${name} is [${shape}], expected [${p.shape}]`);
        noGrad(() => file.readFloat32(name, p.contiguousData() as Float32Array));
      }
    } finally {
      file.close();
    }
    return lora;
  }
}
