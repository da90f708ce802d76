// Weights kept in bfloat16, as their checkpoint stores them (lib/tensor/dtype.ts,
// lib/model/pretrained.ts): a bf16 checkpoint loads its weight matrices as
// bfloat16 tensors holding the file's bits, and everything computed from them
// is bit-identical to the same checkpoint widened to float32 at load: the
// logits, the loss and every hidden state, cached greedy decoding (gemv over
// bf16 weights), and the input gradients that flow back through frozen bf16
// weights (dx = dy W, the tied head's NN product), on both compute paths.
// savePretrained writes the bits it loaded; 'float32' and 'bfloat16' force
// the dtype; anything that would write or train a bf16 weight says why not.

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { openCheckpoint } from '../../lib/io/checkpoint.ts';
import { MemoryModelFolder } from '../../lib/io/memory-folder.ts';
import { SafetensorsFile } from '../../lib/io/safetensors.ts';
import { bf16ToF32, f32ToBf16 } from '../../lib/io/float-formats.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { withComputePath } from '../../kernels/backend.ts';
import { generate } from '../../lib/generation/generate.ts';
import { WeightLoadError } from '../../lib/model/pretrained.ts';
import { goldenPath } from '../golden-files.ts';
import { tempDir } from '../temp-dir.ts';

const BF16_DIR = goldenPath('models/tiny-bf16');
const ids = Tensor.fromData(Int32Array.from([2, 17, 99, 5, 31, 200, 7, 2, 45, 45, 3, 120]), [2, 6]);
const mask = Tensor.fromData(Int32Array.from([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1]), [2, 6]);

/** The first element whose bits differ, or -1 (NaN matches NaN). */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

function expectSameBits(actual: Tensor, expected: Tensor, what: string): void {
  expect(actual.shape, what).toEqual(expected.shape);
  const a = actual.floatData();
  const e = expected.floatData();
  const at = firstDifference(a, e);
  expect(at, `${what}: element ${at} is ${a[at]} from bf16 weights, ${e[at]} from float32`).toBe(-1);
}

const isNorm = (name: string) => name.endsWith('norm.weight');

describe('a bf16 checkpoint kept in bf16', () => {
  const kept = Gemma2ForCausalLM.fromPretrained(BF16_DIR);
  const widened = Gemma2ForCausalLM.fromPretrained(BF16_DIR, { weightDtype: 'float32' });

  test('the weight matrices are bfloat16 holding the file bits, the norms float32; weightDtype float32 widens them exactly', () => {
    const checkpoint = openCheckpoint(BF16_DIR);
    try {
      const widenedByName = new Map(widened.namedParameters());
      for (const [name, p] of kept.namedParameters()) {
        expect(p.dtype, name).toBe(isNorm(name) ? 'float32' : 'bfloat16');
        expect(widenedByName.get(name)!.dtype, name).toBe('float32');
        const bits = checkpoint.readBfloat16(name);
        if (!isNorm(name)) expect(firstDifference(p.contiguousData(), bits), name).toBe(-1);
        expect(firstDifference(widenedByName.get(name)!.contiguousData(), bf16ToF32(bits)), name).toBe(-1);
      }
    } finally {
      checkpoint.close();
    }
    // half the bytes: 2 per element of a kept matrix
    const bytes = (model: Gemma2ForCausalLM) => model.namedParameters().reduce((n, [, p]) => n + p.contiguousData().byteLength, 0);
    expect(bytes(kept)).toBeLessThan(0.51 * bytes(widened));
  });

  for (const path of ['cpu', 'gpujs'] as const) {
    test(`${path} path: logits, loss and every hidden state bit-identical to the float32-widened load`, () => {
      withComputePath(path, () => {
        const run = (model: Gemma2ForCausalLM) => noGrad(() => model.forward({ inputIds: ids, attentionMask: mask, labels: ids, outputHiddenStates: true }));
        const a = run(kept);
        const b = run(widened);
        expectSameBits(a.logits, b.logits, 'logits');
        expectSameBits(a.loss!, b.loss!, 'loss');
        a.hiddenStates!.forEach((h, i) => expectSameBits(h, b.hiddenStates![i], `hidden_states.${i}`));
      });
    });
  }

  test('cached greedy decoding (gemv over the bf16 weights, M = 1) gives the same tokens and step logits bit for bit', () => {
    const prompt = ids.narrow(0, 0, 1).contiguous();
    const a = generate(kept, prompt, { maxNewTokens: 8, returnStepLogits: true });
    const b = generate(widened, prompt, { maxNewTokens: 8, returnStepLogits: true });
    expect(a.sequences).toEqual(b.sequences);
    expectSameBits(a.stepLogits!, b.stepLogits!, 'step logits');
  });

  test('gradients flow back through the frozen bf16 weights (dx = dy W, the tied head) bit-identically', () => {
    const hidden = kept.config.hiddenSize;
    const embeds = Tensor.fromData(Float32Array.from({ length: 2 * 6 * hidden }, (_, i) => Math.sin(i) * 0.05), [2, 6, hidden]);
    const inputGradient = (model: Gemma2ForCausalLM) => {
      const x = embeds.detach().requireGrad();
      model.forward({ inputsEmbeds: x, attentionMask: mask, labels: ids }).loss!.backward();
      return x.grad!;
    };
    expectSameBits(inputGradient(kept), inputGradient(widened), 'd loss / d inputsEmbeds');
  });

  test('savePretrained writes the bits it loaded for BF16, the exactly widened values for F32', () => {
    const dir = tempDir('bf16-save');
    try {
      kept.savePretrained(path.join(dir, 'bf16'), { dtype: 'BF16' });
      kept.savePretrained(path.join(dir, 'f32'));
      const source = openCheckpoint(BF16_DIR);
      const bf16 = SafetensorsFile.open(path.join(dir, 'bf16', 'model.safetensors'));
      const f32 = SafetensorsFile.open(path.join(dir, 'f32', 'model.safetensors'));
      try {
        for (const name of source.names()) {
          expect(bf16.info(name).dtype).toBe('BF16');
          expect(firstDifference(bf16.readBytes(name), new Uint8Array(source.readBfloat16(name).buffer)), name).toBe(-1);
          expect(f32.info(name).dtype).toBe('F32');
          expect(firstDifference(f32.readFloat32(name), source.readFloat32(name)), name).toBe(-1);
        }
      } finally {
        for (const file of [source, bf16, f32]) file.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('weightDtype', () => {
  test("'bfloat16' rounds an F32 checkpoint to nearest even; 'auto' loads it as float32; anything else is an error", () => {
    const f32Dir = goldenPath('models/tiny');
    const auto = Gemma2ForCausalLM.fromPretrained(f32Dir);
    expect(new Set(auto.namedParameters().map(([, p]) => p.dtype))).toEqual(new Set(['float32']));
    const rounded = Gemma2ForCausalLM.fromPretrained(f32Dir, { weightDtype: 'bfloat16' });
    const autoByName = new Map(auto.namedParameters());
    for (const [name, p] of rounded.namedParameters()) {
      if (isNorm(name)) continue;
      expect(p.dtype).toBe('bfloat16');
      expect(firstDifference(p.contiguousData(), f32ToBf16(autoByName.get(name)!.contiguousData() as Float32Array)), name).toBe(-1);
    }
    expect(() => Gemma2ForCausalLM.fromPretrained(f32Dir, { weightDtype: 'float16' as never })).toThrow(WeightLoadError);
    expect(() => Gemma2ForCausalLM.fromPretrained(f32Dir, { weightDtype: 'float16' as never })).toThrow(/weightDtype must be 'auto', 'float32' or 'bfloat16', got "float16"/);
  });

  test('a model built with weightDtype bfloat16 from a seed holds the seed-initialised weights rounded to bfloat16', () => {
    const config = parseGemma2Config({ vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8 });
    const float = new Gemma2ForCausalLM(config, { seed: 3 });
    const bf16 = new Gemma2ForCausalLM(config, { seed: 3, weightDtype: 'bfloat16' });
    const floatByName = new Map(float.namedParameters());
    for (const [name, p] of bf16.namedParameters()) {
      const expected = floatByName.get(name)!.contiguousData() as Float32Array;
      expect(firstDifference(p.contiguousData(), isNorm(name) ? expected : f32ToBf16(expected)), name).toBe(-1);
    }
    // saved as BF16 and loaded back into memory: the same bits
    const folder = new MemoryModelFolder();
    bf16.savePretrained(folder, { dtype: 'BF16' });
    const reloaded = new Map(Gemma2ForCausalLM.fromPretrained(folder).namedParameters());
    for (const [name, p] of bf16.namedParameters()) expect(firstDifference(reloaded.get(name)!.contiguousData(), p.contiguousData()), name).toBe(-1);
  });
});

describe('a bf16 weight is read-only', () => {
  const model = Gemma2ForCausalLM.fromPretrained(BF16_DIR);
  const weight = model.model.layers[0].selfAttn.qProj.weight;

  test('requireGrad says to train float32 master weights; copyFrom and every op but the weight readers refuse it', () => {
    expect(weight.dtype).toBe('bfloat16');
    expect(() => weight.requireGrad()).toThrow(/bfloat16 tensor is a weight kept in its stored dtype.*weightDtype: 'float32'/);
    expect(() => weight.add(weight.float())).toThrow(/add: bfloat16 tensors are weights kept in their stored dtype; only linear, matmul \(as the weight, the second operand\) and embedding \(as the table\) read them\. Widen with \.float\(\)/);
    expect(() => weight.float().matmul(weight)).not.toThrow(); // as the weight
    expect(() => weight.matmul(weight.float())).toThrow(/matmul: bfloat16 tensors are weights/);
    expect(() => noGrad(() => weight.copyFrom(weight.float()))).toThrow(/copyFrom: bfloat16 tensors are weights/);
    expect(() => noGrad(() => weight.float().copyFrom(weight))).toThrow(/copyFrom: bfloat16 tensors are weights/);
  });

  test('.float(), toArray(), item() and toString() read the widened values; views and detach keep the bits', () => {
    const values = weight.float();
    expect(values.dtype).toBe('float32');
    expect(Array.from(values.contiguousData())).toEqual(Array.from(bf16ToF32(weight.contiguousData() as Uint16Array)));
    expect(weight.toArray()).toEqual(values.toArray());
    expect(weight.narrow(0, 3, 1).narrow(1, 5, 1).item()).toBe(values.contiguousData()[3 * weight.shape[1] + 5]);
    expect(weight.toString()).toContain('dtype=bfloat16');
    const transposed = weight.transpose(0, 1);
    expect(transposed.dtype).toBe('bfloat16');
    expect(transposed.contiguous().contiguousData()).toBeInstanceOf(Uint16Array);
    expect(transposed.float().toArray()).toEqual(values.transpose(0, 1).toArray());
    expect(weight.detach().contiguousData()).toBe(weight.contiguousData());
  });
});
