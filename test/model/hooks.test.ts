// Hook points (lib/model/hook-points.ts, hooks.ts): runWithCache sees every
// point in forward order with its documented shape; a hook that hands back its
// own activation changes nothing; zero-ablating one head changes only what
// comes after it; the gradient at a hook point matches finite differences of
// the float64 reference, perturbed at the same point; bad names and bad
// replacements are errors that name them.

import { describe, expect, test } from 'vitest';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Gemma2Model } from '../../lib/model/gemma2-model.ts';
import { Gemma2ForSequenceClassification } from '../../lib/model/classification.ts';
import { hookPointNames, hookPointSpec } from '../../lib/model/hook-points.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { mul, sum } from '../../lib/ops/index.ts';
import { referenceGemma2, type RefWeights } from '../../reference/gemma2.ts';
import { describeEachBackend } from '../helpers.ts';
import { goldenPath } from '../golden-files.ts';
import { Generator } from '../../lib/tensor/random.ts';

const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
const { config } = model;
const T = 11; // longer than the sliding window (8): the sliding layers' band shows
const ids = Tensor.fromData(Int32Array.from({ length: 2 * T }, (_, i) => 2 + ((i * 37) % 250)), [2, T]);

/** A spec's shape in numbers for this model and input. */
function expectedShape(name: string, B: number, steps: number): number[] {
  const sizes: Record<string, number> = {
    B,
    T: steps,
    S: steps,
    H: config.hiddenSize,
    I: config.intermediateSize,
    V: config.vocabSize,
    heads: config.numAttentionHeads,
    kv_heads: config.numKeyValueHeads,
    hd: config.headDim,
  };
  return hookPointSpec(name)!
    .shape.slice(1, -1)
    .split(',')
    .map((axis) => sizes[axis.trim()]);
}

const bits = (t: Tensor) => Array.from(t.contiguousData());

describeEachBackend('hook points', () => {
  test('runWithCache sees every point once, in forward order, with its documented shape; the outputs are those of forward', () => {
    const plain = noGrad(() => model.forward({ inputIds: ids, outputHiddenStates: true }));
    const { output, activations } = noGrad(() => model.runWithCache({ inputIds: ids, outputHiddenStates: true }));
    expect([...activations.keys()]).toEqual(hookPointNames(config.numHiddenLayers, true));
    expect([...activations.keys()]).toEqual(model.hookPointNames());
    for (const [name, activation] of activations) expect(activation.shape, name).toEqual(expectedShape(name, 2, T));
    expect(bits(output.logits)).toEqual(bits(plain.logits));
    // the points that are Transformers' hidden states are the very same values
    expect(bits(activations.get('embed')!)).toEqual(bits(plain.hiddenStates![0]));
    for (let i = 0; i < config.numHiddenLayers - 1; i++) expect(bits(activations.get(`layers.${i}.resid_post`)!)).toEqual(bits(plain.hiddenStates![i + 1]));
    expect(bits(activations.get('final_norm')!)).toEqual(bits(plain.hiddenStates![config.numHiddenLayers]));
    expect(bits(activations.get('logits')!)).toEqual(bits(plain.logits));
  });

  test('runWithCache keeps only the selected points, by names or by a test', () => {
    const byName = noGrad(() => model.runWithCache({ inputIds: ids }, ['layers.1.attn.pattern', 'embed']));
    expect([...byName.activations.keys()]).toEqual(['embed', 'layers.1.attn.pattern']);
    const byTest = noGrad(() => model.runWithCache({ inputIds: ids }, (name) => name.endsWith('.mlp.act')));
    expect([...byTest.activations.keys()]).toEqual(Array.from({ length: config.numHiddenLayers }, (_, i) => `layers.${i}.mlp.act`));
  });

  test('the attention pattern is banded on sliding layers and causal on global ones; outputAttentions returns it', () => {
    const { output, activations } = noGrad(() => model.runWithCache({ inputIds: ids, outputAttentions: true }, (n) => n.endsWith('attn.pattern')));
    expect(output.attentions).toHaveLength(config.numHiddenLayers);
    for (let layer = 0; layer < config.numHiddenLayers; layer++) {
      const pattern = activations.get(`layers.${layer}.attn.pattern`)!;
      expect(bits(output.attentions![layer])).toEqual(bits(pattern));
      const sliding = model.model.layers[layer].isSliding;
      const p = pattern.contiguousData();
      for (let row = 0; row < 2 * config.numAttentionHeads * T; row++) {
        const q = row % T;
        let total = 0;
        for (let k = 0; k < T; k++) {
          const visible = k <= q && (!sliding || q - k < config.slidingWindow);
          if (!visible) expect(p[row * T + k]).toBe(0);
          total += p[row * T + k];
        }
        expect(total).toBeCloseTo(1, 5);
      }
    }
    // the test above means something only if the model has both kinds of layer and the band cuts
    expect(model.model.layers.some((l) => l.isSliding) && model.model.layers.some((l) => !l.isSliding)).toBe(true);
    expect(T).toBeGreaterThan(config.slidingWindow);
  });

  test('a hook that hands back its own activation, or a copy of it, changes nothing', () => {
    const plain = noGrad(() => model.forward({ inputIds: ids }));
    const same = noGrad(() => model.runWithHooks({ inputIds: ids }, [[() => true, (a) => a]]));
    const copied = noGrad(() => model.runWithHooks({ inputIds: ids }, [[() => true, (a) => Tensor.fromData(Float32Array.from(a.contiguousData()), a.shape)]]));
    expect(bits(same.logits)).toEqual(bits(plain.logits));
    expect(bits(copied.logits)).toEqual(bits(plain.logits));
  });

  test('a hook that only looks changes no bit of the loss or of any gradient (the MLP, the attention block and the softcapped head run fused without hooks, as separate ops with them)', () => {
    const parameters = model.namedParameters();
    const run = (hooks?: Parameters<typeof model.runWithHooks>[1]) => {
      for (const [, p] of parameters) p.requireGrad();
      try {
        const input = { inputIds: ids, labels: ids };
        const { loss } = hooks === undefined ? model.forward(input) : model.runWithHooks(input, hooks);
        loss!.backward();
        return { loss: loss!.item(), grads: parameters.map(([name, p]) => [name, bits(p.grad!)] as const) };
      } finally {
        for (const [, p] of parameters) p.requireGrad(false).zeroGrad();
      }
    };
    const plain = run();
    const looked = run({ 'layers.2.mlp.act': () => undefined });
    expect(looked.loss).toBe(plain.loss);
    for (const [k, [name, grad]] of looked.grads.entries()) expect(grad, name).toEqual(plain.grads[k][1]);
  });

  test('zero-ablating one head of one layer changes only what comes after it', () => {
    const head = 2;
    const ablated = 'layers.1.attn.z';
    const zeroHead = (z: Tensor) => {
      const data = Float32Array.from(z.contiguousData()); // [B, T, heads, hd]
      const { numAttentionHeads: heads, headDim: hd } = config;
      for (let row = 0; row < data.length / (heads * hd); row++) data.fill(0, (row * heads + head) * hd, (row * heads + head + 1) * hd);
      return Tensor.fromData(data, z.shape);
    };
    const clean = noGrad(() => model.runWithCache({ inputIds: ids })).activations;
    const patched = noGrad(() => model.runWithCache({ inputIds: ids, hooks: { [ablated]: zeroHead } })).activations;
    const names = model.hookPointNames();
    const at = names.indexOf(ablated);
    for (const name of names.slice(0, at)) expect(bits(patched.get(name)!), `${name} comes before the ablation`).toEqual(bits(clean.get(name)!));
    for (const name of names.slice(at)) expect(bits(patched.get(name)!), `${name} comes after the ablation`).not.toEqual(bits(clean.get(name)!));
  });

  test('the hooks of the base model and of the classifiers are the decoder stack\'s; the causal LM adds its head', () => {
    const base = new Gemma2Model(config);
    const classifier = new Gemma2ForSequenceClassification(config);
    expect(base.hookPointNames()).toEqual(hookPointNames(config.numHiddenLayers, false));
    expect(classifier.hookPointNames()).toEqual(base.hookPointNames());
    expect(model.hookPointNames().slice(-2)).toEqual(['logits_raw', 'logits']);
    const seen: string[] = [];
    noGrad(() => classifier.runWithHooks({ inputIds: ids }, [[() => true, (_, point) => void seen.push(point.name)]]));
    expect(seen).toEqual(base.hookPointNames());
  });
});

describe('gradients at hook points', () => {
  // d(loss)/d(activation) at a point, by autograd (retainGrad), against central
  // differences of the float64 reference with the same point perturbed.
  const weights: RefWeights = new Map(model.namedParameters().map(([name, p]) => [name, { shape: p.shape, data: Float64Array.from(p.contiguousData()) }]));
  const rows = Array.from({ length: 2 }, (_, b) => Array.from(ids.contiguousData().subarray(b * T, (b + 1) * T)));
  const generator = new Generator(7);
  const V = config.vocabSize;
  const probe = Float32Array.from({ length: 2 * T * V }, () => generator.nextNormal()); // loss = sum(logits * probe)
  const referenceLoss = (point: string, index: number, delta: number): number => {
    const { logits } = referenceGemma2(config, weights, { inputIds: rows }, {
      precision: 'float64',
      hook: (name, values) => {
        if (name === point) values[index] += delta;
      },
    });
    let loss = 0;
    for (let i = 0; i < logits.length; i++) loss += logits[i] * probe[i];
    return loss;
  };

  for (const point of ['embed', 'layers.0.attn.q', 'layers.1.attn.pattern', 'layers.2.mlp.act', 'layers.3.resid_mid', 'final_norm', 'logits_raw']) {
    test(`d loss / d ${point}`, () => {
      let activation: Tensor | undefined;
      const { logits } = model.runWithHooks({ inputIds: ids }, {
        // the weights require no gradient: the activation becomes a leaf the rest is recorded from
        [point]: (a) => (activation = a.detach().requireGrad()),
      });
      sum(mul(logits, Tensor.fromData(probe, logits.shape))).backward();
      const gradient = activation!.grad!.contiguousData();
      const h = 1e-4;
      const picks = Array.from({ length: 6 }, (_, i) => Math.floor(((i + 0.5) / 6) * gradient.length));
      for (const index of picks) {
        const numeric = (referenceLoss(point, index, h) - referenceLoss(point, index, -h)) / (2 * h);
        // float32 autograd against float64 differences: measured at most 5.1e-5 * (1 + |numeric|) (at embed), bound 10x that
        expect(Math.abs(gradient[index] - numeric), `${point}[${index}]: ${gradient[index]} vs ${numeric}`).toBeLessThanOrEqual(5e-4 * (1 + Math.abs(numeric)));
      }
    });
  }

  test('retainGrad keeps the gradient at a point while the weights get theirs', () => {
    const weight = model.model.layers[0].mlp.upProj.weight; // gated = act * (a Wup^T) depends on it
    weight.requireGrad();
    try {
      const { output, activations } = model.runWithCache({ inputIds: ids }, ['layers.0.mlp.gated']);
      const gated = activations.get('layers.0.mlp.gated')!.retainGrad();
      sum(mul(output.logits, Tensor.fromData(probe, output.logits.shape))).backward();
      expect(gated.grad?.shape).toEqual(gated.shape);
      expect(weight.grad?.shape).toEqual(weight.shape);
      expect(gated.grad!.contiguousData().some((g) => g !== 0)).toBe(true);
    } finally {
      weight.requireGrad(false).zeroGrad();
    }
  });
});

describe('hook errors', () => {
  test('a name the model does not have is an error naming it', () => {
    expect(() => model.runWithHooks({ inputIds: ids }, { 'layers.9.attn.q': () => undefined })).toThrow(/no hook point "layers.9.attn.q"/);
    expect(() => model.runWithCache({ inputIds: ids }, ['layers.0.attn.query'])).toThrow(/no hook point "layers.0.attn.query"/);
    expect(() => model.runWithHooks({ inputIds: ids }, [[(name) => name === 'nothing', () => undefined]])).toThrow(/accepts no hook point/);
    expect(() => new Gemma2Model(config).forward({ inputIds: ids, hooks: { logits: () => undefined } })).toThrow(/no hook point "logits"/);
  });

  test('a replacement of another shape or dtype is an error naming the point', () => {
    expect(() => noGrad(() => model.runWithHooks({ inputIds: ids }, { 'layers.0.mlp.act': (a) => a.narrow(1, 0, 1) }))).toThrow(/hook at layers.0.mlp.act: the replacement is float32 \[2, 1, 128\]/);
    expect(() => noGrad(() => model.runWithHooks({ inputIds: ids }, { embed: () => 3 as unknown as Tensor }))).toThrow(/returns nothing or a Tensor/);
  });
});
