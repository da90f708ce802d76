// The float64 reference's hook points (reference/gemma2.ts, RefOptions.hook):
// the same names, order and shapes as the library's table (lib/model/hook-points.ts),
// values that are what the forward computes (the hidden states among them), and
// a hook that writes a value changes what comes after it and nothing before.
// Tests of the library lean on this: they compare every activation of the
// float32 model against these, and take finite differences through them.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../lib/io/safetensors.ts';
import { parseGemma2Config, type Gemma2Config } from '../lib/model/config.ts';
import { hookPointNames, LAYER_POINTS, LM_HEAD_POINTS, MODEL_END_POINTS, MODEL_START_POINTS } from '../lib/model/hook-points.ts';
import {
  geluTanh,
  REF_HOOK_POINTS,
  referenceGemma2,
  referenceGemma2Model,
  referenceHookPointNames,
  referenceSequenceClassification,
  referenceTokenClassification,
  softcap,
  type RefForwardInput,
  type RefHook,
  type RefWeights,
} from '../reference/gemma2.ts';

/** A golden model's config and weights (single-file models only). */
function loadModel(name: string): { config: Gemma2Config; weights: RefWeights } {
  const dir = new URL(`../golden/models/${name}/`, import.meta.url);
  const config = parseGemma2Config(JSON.parse(readFileSync(new URL('config.json', dir), 'utf8')));
  const file = SafetensorsFile.open(fileURLToPath(new URL('model.safetensors', dir)));
  try {
    const weights: RefWeights = new Map();
    for (const key of file.names()) weights.set(key, { shape: [...file.info(key).shape], data: file.readFloat64(key) });
    return { config, weights };
  } finally {
    file.close();
  }
}

/** Random weights for a small config, deterministic (a linear congruential generator). */
function randomWeights(config: Gemma2Config, seed: number): RefWeights {
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const { vocabSize: V, hiddenSize: H, intermediateSize: I, numAttentionHeads: heads, numKeyValueHeads: kv, headDim: hd } = config;
  const weights: RefWeights = new Map();
  const add = (name: string, shape: number[], scale: number) =>
    weights.set(name, { shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * scale) });
  add('model.embed_tokens.weight', [V, H], 1);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    for (const norm of ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']) add(`${p}.${norm}.weight`, [H], 0.3);
    add(`${p}.self_attn.q_proj.weight`, [heads * hd, H], 0.5);
    add(`${p}.self_attn.k_proj.weight`, [kv * hd, H], 0.5);
    add(`${p}.self_attn.v_proj.weight`, [kv * hd, H], 0.5);
    add(`${p}.self_attn.o_proj.weight`, [H, heads * hd], 0.5);
    add(`${p}.mlp.gate_proj.weight`, [I, H], 0.5);
    add(`${p}.mlp.up_proj.weight`, [I, H], 0.5);
    add(`${p}.mlp.down_proj.weight`, [H, I], 0.5);
  }
  add('model.norm.weight', [H], 0.3);
  return weights;
}

/** A spec's shape string ('[B, heads, T, S]') in numbers. */
function shapeOf(spec: string, config: Gemma2Config, B: number, T: number): number[] {
  const letters: Record<string, number> = {
    B,
    T,
    S: T,
    H: config.hiddenSize,
    I: config.intermediateSize,
    V: config.vocabSize,
    hd: config.headDim,
    heads: config.numAttentionHeads,
    kv_heads: config.numKeyValueHeads,
  };
  return spec
    .slice(1, -1)
    .split(', ')
    .map((letter) => {
      if (!(letter in letters)) throw new Error(`unknown dimension ${letter} in ${spec}`);
      return letters[letter];
    });
}

/** The library's spec shape of a hook point name (layers.<i>. stripped). */
const SPEC_SHAPES = new Map([...MODEL_START_POINTS, ...LAYER_POINTS, ...MODEL_END_POINTS, ...LM_HEAD_POINTS].map((p) => [p.name, p.shape]));
const specShape = (name: string) => SPEC_SHAPES.get(name.replace(/^layers\.\d+\./, ''))!;

interface Trace {
  names: string[];
  shapes: number[][];
  /** A copy of every point's values, taken after any edit the hook made. */
  values: Map<string, Float64Array>;
}

/** A hook that records every point (copies), after letting `edit` change it first. */
function recorder(edit?: (name: string, values: Float64Array, shape: number[]) => void): { trace: Trace; hook: RefHook } {
  const trace: Trace = { names: [], shapes: [], values: new Map() };
  const hook: RefHook = (name, values, shape) => {
    edit?.(name, values, shape);
    trace.names.push(name);
    trace.shapes.push(shape);
    trace.values.set(name, values.slice());
  };
  return { trace, hook };
}

/** Bit for bit (NaN, -0 included): the bytes. */
function sameBits(a: Float64Array, b: Float64Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const tiny = loadModel('tiny'); // 4 layers, H 64, 4 heads, 2 kv heads, hd 16, I 128, V 256, both softcaps, window 8
const B = 2;
const T = 10; // longer than the sliding window
const ids = [Array.from({ length: T }, (_, t) => (t * 37 + 5) % 256), Array.from({ length: T }, (_, t) => (t < 3 ? 0 : (t * 11 + 2) % 256))];
const input: RefForwardInput = { inputIds: ids, attentionMask: ids.map((row, b) => row.map((_, t) => (b === 1 && t < 3 ? 0 : 1))) };

describe('reference hook points', () => {
  it("state the library's table: the same names, shapes and order", () => {
    const strip = (points: readonly { name: string; shape: string }[]) => points.map(({ name, shape }) => ({ name, shape }));
    expect(REF_HOOK_POINTS.start).toEqual(strip(MODEL_START_POINTS));
    expect(REF_HOOK_POINTS.layer).toEqual(strip(LAYER_POINTS));
    expect(REF_HOOK_POINTS.end).toEqual(strip(MODEL_END_POINTS));
    expect(REF_HOOK_POINTS.lmHead).toEqual(strip(LM_HEAD_POINTS));
    for (const layers of [1, 4]) for (const lm of [true, false]) expect(referenceHookPointNames(layers, lm)).toEqual(hookPointNames(layers, lm));
  });

  it('fire every point of hookPointNames in order, with the spec shapes, on the causal LM', () => {
    const { config, weights } = tiny;
    const { trace, hook } = recorder();
    referenceGemma2(config, weights, input, { hook });
    expect(trace.names).toEqual(hookPointNames(config.numHiddenLayers, true));
    trace.names.forEach((name, i) => {
      const expected = shapeOf(specShape(name), config, B, T);
      expect(trace.shapes[i], name).toEqual(expected);
      expect(trace.values.get(name)!.length, name).toBe(expected.reduce((a, b) => a * b, 1));
    });
  });

  it('fire the base points only on the model and the classification heads', () => {
    const base = (name: string) => {
      const { config, weights } = name === 'tiny' ? tiny : loadModel(name);
      return { config, weights, names: hookPointNames(config.numHiddenLayers, false) };
    };
    const model = base('tiny');
    const m = recorder();
    referenceGemma2Model(model.config, model.weights, input, { hook: m.hook });
    expect(m.trace.names).toEqual(model.names);

    const seq = base('tiny-seqcls');
    const s = recorder();
    referenceSequenceClassification(seq.config, seq.weights, input, { hook: s.hook });
    expect(s.trace.names).toEqual(seq.names);

    // A hook's edit reaches the head: with the final norm zeroed, token logits are the bias.
    const tok = base('tiny-tokcls');
    const t = recorder((name, values) => name === 'final_norm' && values.fill(0));
    const logits = referenceTokenClassification(tok.config, tok.weights, input, { hook: t.hook });
    expect(t.trace.names).toEqual(tok.names);
    const bias = tok.weights.get('score.bias')!.data;
    expect(Array.from(logits)).toEqual(Array.from({ length: B * T * tok.config.numLabels }, (_, i) => bias[i % tok.config.numLabels]));
  });

  it('a hook that writes nothing changes no bit; the hidden states are the embed, resid_post and final_norm points', () => {
    const { config, weights } = tiny;
    const L = config.numHiddenLayers;
    for (const precision of ['transformers', 'float64'] as const) {
      const plain = referenceGemma2(config, weights, input, { precision });
      const { trace, hook } = recorder();
      const hooked = referenceGemma2(config, weights, input, { precision, hook });
      expect(sameBits(hooked.logits, plain.logits)).toBe(true);
      hooked.hiddenStates.forEach((h, i) => expect(sameBits(h, plain.hiddenStates[i]), `hidden_states.${i}`).toBe(true));

      const point = (name: string) => trace.values.get(name)!;
      expect(sameBits(point('embed'), plain.hiddenStates[0])).toBe(true);
      for (let i = 0; i < L - 1; i++) expect(sameBits(point(`layers.${i}.resid_post`), plain.hiddenStates[i + 1]), `layer ${i}`).toBe(true);
      for (let i = 0; i < L; i++) expect(sameBits(point(`layers.${i}.resid_pre`), plain.hiddenStates[i]), `layer ${i}`).toBe(true);
      expect(sameBits(point('final_norm'), plain.hiddenStates[L])).toBe(true);
      expect(sameBits(point('logits'), plain.logits)).toBe(true);
    }
  });

  it('hold what each step computes, in the spec layout', () => {
    const { config, weights } = tiny;
    const { trace, hook } = recorder();
    referenceGemma2(config, weights, input, { hook });
    const heads = config.numAttentionHeads;
    const kv = config.numKeyValueHeads;
    const hd = config.headDim;
    const H = config.hiddenSize;
    const scale = config.queryPreAttnScalar ** -0.5;
    for (let layer = 0; layer < config.numHiddenLayers; layer++) {
      const p = (name: string) => trace.values.get(`layers.${layer}.${name}`)!;
      const sliding = config.layerTypes[layer] === 'sliding_attention';
      const [q, k, v, scores, capped, pattern, z, out] = ['q', 'k', 'v', 'scores', 'capped_scores', 'pattern', 'z', 'out'].map((n) => p(`attn.${n}`));
      for (let b = 0; b < B; b++) {
        for (let n = 0; n < heads; n++) {
          const g = Math.floor(n / (heads / kv));
          for (let qi = 0; qi < T; qi++) {
            const row = ((b * heads + n) * T + qi) * T;
            let sum = 0;
            for (let ki = 0; ki < T; ki++) {
              // scores [B, heads, T, S] from q [B, heads, T, hd] and k [B, kv_heads, T, hd], in the same order of sums
              let dot = 0;
              for (let d = 0; d < hd; d++) dot += q[((b * heads + n) * T + qi) * hd + d] * k[((b * kv + g) * T + ki) * hd + d];
              expect(scores[row + ki]).toBe(dot * scale);
              expect(capped[row + ki]).toBe(softcap(scores[row + ki], config.attnLogitSoftcapping!));
              const visible = ki <= qi && !(sliding && ki <= qi - config.slidingWindow) && input.attentionMask![b][ki] === 1;
              if (!visible && qi >= 3) expect(pattern[row + ki]).toBe(0); // (row 1's first queries see no key at all)
              sum += pattern[row + ki];
            }
            expect(sum).toBeCloseTo(1, 6);
            // z [B, T, heads, hd] = pattern v
            for (let d = 0; d < hd; d++) {
              let total = 0;
              for (let ki = 0; ki < T; ki++) total += pattern[row + ki] * v[((b * kv + g) * T + ki) * hd + d];
              expect(z[((b * T + qi) * heads + n) * hd + d]).toBe(total);
            }
          }
        }
      }
      // out = z Wo^T
      const wo = weights.get(`model.layers.${layer}.self_attn.o_proj.weight`)!.data;
      for (let r = 0; r < B * T; r++) {
        for (let o = 0; o < H; o++) {
          let total = 0;
          for (let i = 0; i < heads * hd; i++) total += z[r * heads * hd + i] * wo[o * heads * hd + i];
          expect(out[r * H + o]).toBe(total);
        }
      }
      const [resid_pre, post_attn, resid_mid, gate, up, act, gated, post_ff, resid_post] = [
        'resid_pre', 'post_attn_norm', 'resid_mid', 'mlp.gate', 'mlp.up', 'mlp.act', 'mlp.gated', 'post_ff_norm', 'resid_post',
      ].map(p);
      resid_mid.forEach((x, i) => expect(x).toBe(resid_pre[i] + post_attn[i]));
      resid_post.forEach((x, i) => expect(x).toBe(resid_mid[i] + post_ff[i]));
      act.forEach((x, i) => expect(x).toBe(geluTanh(gate[i])));
      gated.forEach((x, i) => expect(x).toBe(act[i] * up[i]));
    }
    const raw = trace.values.get('logits_raw')!;
    trace.values.get('logits')!.forEach((x, i) => expect(x).toBe(softcap(raw[i], config.finalLogitSoftcapping!)));
  });

  it('without softcaps, capped_scores is scores and logits is logits_raw', () => {
    const config = parseGemma2Config({
      vocab_size: 20, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
      head_dim: 6, query_pre_attn_scalar: 6, sliding_window: 3, attn_logit_softcapping: null, final_logit_softcapping: null,
    });
    const weights = randomWeights(config, 7);
    const { trace, hook } = recorder();
    const out = referenceGemma2(config, weights, { inputIds: [[1, 5, 9, 2, 7], [3, 3, 8, 1, 0]] }, { hook });
    expect(trace.names).toEqual(hookPointNames(2, true));
    trace.names.forEach((name, i) => expect(trace.shapes[i], name).toEqual(shapeOf(specShape(name), config, 2, 5)));
    for (const layer of [0, 1]) {
      expect(sameBits(trace.values.get(`layers.${layer}.attn.capped_scores`)!, trace.values.get(`layers.${layer}.attn.scores`)!)).toBe(true);
    }
    expect(sameBits(trace.values.get('logits')!, trace.values.get('logits_raw')!)).toBe(true);
    expect(sameBits(out.logits, trace.values.get('logits')!)).toBe(true);
  });

  it('zeroing one head of attn.z in layer 1 changes the logits, and nothing before it', () => {
    const { config, weights } = tiny;
    const clean = recorder();
    const plain = referenceGemma2(config, weights, input, { hook: clean.hook });
    const head = 2;
    const ablated = recorder((name, values, [b, t, heads, hd]) => {
      if (name !== 'layers.1.attn.z') return;
      for (let i = 0; i < b * t; i++) values.fill(0, (i * heads + head) * hd, (i * heads + head + 1) * hd);
    });
    const out = referenceGemma2(config, weights, input, { hook: ablated.hook });
    expect(ablated.trace.names).toEqual(clean.trace.names);
    const z = ablated.trace.values.get('layers.1.attn.z')!;
    expect(z.some((x, i) => Math.floor(i / config.headDim) % config.numAttentionHeads === head && x !== 0)).toBe(false);
    for (const name of clean.trace.names) {
      if (name.startsWith('layers.0.') || name === 'embed' || /^layers\.1\.(resid_pre|input_norm|attn\.(q|k|v|scores|capped_scores|pattern))$/.test(name)) {
        expect(sameBits(ablated.trace.values.get(name)!, clean.trace.values.get(name)!), name).toBe(true);
      }
    }
    expect(sameBits(ablated.trace.values.get('layers.1.attn.out')!, clean.trace.values.get('layers.1.attn.out')!)).toBe(false);
    expect(sameBits(out.logits, plain.logits)).toBe(false);
    expect(sameBits(out.hiddenStates[1], plain.hiddenStates[1])).toBe(true);
    expect(sameBits(out.hiddenStates[2], plain.hiddenStates[2])).toBe(false);
  });

  it('an edit at any point reaches the step that reads it and the logits, and leaves every earlier point as it was', () => {
    const { config, weights } = tiny;
    const L = config.numHiddenLayers;
    // In float64 throughout: the 'transformers' float32 steps can round a small change away
    // (layer 1's last query gives its own key 3e-11 of its attention, below float32's reach).
    const precision = 'float64';
    const clean = recorder();
    const plain = referenceGemma2(config, weights, input, { precision, hook: clean.hook });
    const names = clean.trace.names;
    // The point each point's values are read by (first of them in the forward).
    const readBy: Record<string, string> = {
      resid_pre: 'input_norm', input_norm: 'attn.q', 'attn.q': 'attn.scores', 'attn.k': 'attn.scores', 'attn.v': 'attn.z',
      'attn.scores': 'attn.capped_scores', 'attn.capped_scores': 'attn.pattern', 'attn.pattern': 'attn.z', 'attn.z': 'attn.out',
      'attn.out': 'post_attn_norm', post_attn_norm: 'resid_mid', resid_mid: 'pre_ff_norm', pre_ff_norm: 'mlp.gate',
      'mlp.gate': 'mlp.act', 'mlp.up': 'mlp.gated', 'mlp.act': 'mlp.gated', 'mlp.gated': 'mlp.out', 'mlp.out': 'post_ff_norm',
      post_ff_norm: 'resid_post',
    };
    const reader = (name: string): string | null => {
      if (name === 'embed') return 'layers.0.resid_pre';
      if (name === 'final_norm') return 'logits_raw';
      if (name === 'logits_raw') return 'logits';
      if (name === 'logits') return null;
      const [, layer, local] = /^layers\.(\d+)\.(.*)$/.exec(name)!;
      if (local === 'resid_post') return Number(layer) + 1 < L ? `layers.${Number(layer) + 1}.resid_pre` : 'final_norm';
      return `layers.${layer}.${readBy[local]}`;
    };
    for (const [at, target] of names.entries()) {
      // One element of row 0's last position (T and S at T - 1, every other axis at 0: the
      // last query and its own key for [B, heads, T, S]); it reaches the last logits whatever the masks.
      const edited = recorder((name, values, shape) => {
        if (name !== target) return;
        const at = specShape(name).slice(1, -1).split(', ').map((letter) => (letter === 'T' || letter === 'S' ? T - 1 : 0));
        const index = at.reduce((flat, i, axis) => flat * shape[axis] + i, 0);
        values[index] += 0.25;
      });
      const out = referenceGemma2(config, weights, input, { precision, hook: edited.hook });
      const seen = (name: string) => edited.trace.values.get(name)!;
      for (const before of names.slice(0, at)) expect(sameBits(seen(before), clean.trace.values.get(before)!), `${target} edited, ${before} changed`).toBe(true);
      expect(sameBits(seen(target), clean.trace.values.get(target)!), target).toBe(false);
      const next = reader(target);
      if (next !== null) expect(sameBits(seen(next), clean.trace.values.get(next)!), `${target} edited, ${next} unchanged`).toBe(false);
      expect(sameBits(out.logits, plain.logits), `${target} edited, logits unchanged`).toBe(false);
      expect(sameBits(out.logits, seen('logits')), 'the logits returned are the logits point').toBe(true);
      // The hidden states are their points' values as edited; an edit of resid_pre leaves the previous output alone.
      expect(sameBits(out.hiddenStates[0], seen('embed'))).toBe(true);
      for (let i = 0; i < L - 1; i++) expect(sameBits(out.hiddenStates[i + 1], seen(`layers.${i}.resid_post`))).toBe(true);
      expect(sameBits(out.hiddenStates[L], seen('final_norm'))).toBe(true);
    }
  });
});
