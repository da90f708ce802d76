// The attention mask is added to the scores, not filled in (GEMMA2.md,
// "Forward pass"). Both give the same forward, but in a query row where every
// key is masked (a left pad) `s + M` rounds to M everywhere: the softmax is a
// uniform average and its gradient still reaches s through the addition, as
// in Transformers. These tests pin that gradient: the softmax of s + M against
// its float64 Jacobian at the rounded scores, and the model's attention block
// against the same block composed from primitive ops (softmax written as
// exp(z - max z) / sum exp(z - max z)), on every backend.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { Gemma2Attention } from '../../lib/model/attention.ts';
import { HookScope } from '../../lib/model/hooks.ts';
import { MASKED_SCORE, additiveMask } from '../../lib/model/masks.ts';
import { rotaryTables } from '../../lib/model/rotary.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { describeEachBackend, expectClose, randomTensor, seedArb } from '../helpers.ts';

const f = Math.fround;

describeEachBackend('attention mask', () => {
  test('the gradient of softmax(s + M) through fully masked rows is the softmax Jacobian at the uniform row', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), seedArb, (rows, keys, seed) => {
        const s = randomTensor([rows, keys], seed, -6, 6).requireGrad();
        // row 0 sees nothing (a left pad); the other rows see a random subset (at least one key)
        const visible = randomTensor([rows, keys], seed + 1, 0, 1).contiguousData().map((v, i) => (i < keys ? 0 : v < 0.6 || i % keys === 0 ? 1 : 0));
        const mask = Tensor.fromData(Float32Array.from(visible, (v) => (v ? 0 : MASKED_SCORE)), [rows, keys]);
        const weights = randomTensor([rows, keys], seed + 2);
        ops.softmax(ops.add(s, mask), -1).backward(weights);
        // float64: p from the float32 scores s + M (M wherever masked), then ds = p (w - sum(p w))
        const sData = s.contiguousData();
        const w = weights.contiguousData();
        const expected = new Float64Array(rows * keys);
        for (let r = 0; r < rows; r++) {
          const z = Array.from({ length: keys }, (_, j) => f(sData[r * keys + j] + mask.contiguousData()[r * keys + j]));
          const m = Math.max(...z);
          const e = z.map((v) => Math.exp(v - m));
          const total = e.reduce((a, b) => a + b, 0);
          const p = e.map((v) => v / total);
          const dot = p.reduce((acc, pj, j) => acc + pj * w[r * keys + j], 0);
          for (let j = 0; j < keys; j++) expected[r * keys + j] = p[j] * (w[r * keys + j] - dot);
        }
        expectClose(s.grad!, { shape: [rows, keys], data: expected }, TOLERANCES.gradient, 'd softmax(s + M) / ds');
        // the fully masked row passes gradient (a filled mask would give exact zeros there)
        expect(Array.from(s.grad!.contiguousData().subarray(0, keys)).some((v) => v !== 0) || keys === 1).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  test("the attention block's gradients on a left-padded batch equal those of the block composed from primitive ops", () => {
    const config = parseGemma2Config({
      model_type: 'gemma2',
      vocab_size: 16,
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 4,
      query_pre_attn_scalar: 4,
      sliding_window: 3,
      attn_logit_softcapping: 5,
    });
    const [B, T] = [2, 6];
    const attention = new Gemma2Attention(config, { generator: new Generator(11), std: 0.7 });
    const weights = attention.namedParameters().map(([, p]) => p);
    const x = randomTensor([B, T, config.hiddenSize], 12);
    const upstream = randomTensor([B, T, config.hiddenSize], 13);
    const padding = [Int32Array.of(1, 1, 1, 1, 1, 1), Int32Array.of(0, 0, 1, 1, 1, 1)]; // row 1: two left pads
    const positions = Int32Array.from({ length: T }, (_, t) => t);
    const mask = additiveMask({ queryPositions: positions, keyPositions: positions, keyPadding: padding, slidingWindow: config.slidingWindow });
    const { cos, sin } = rotaryTables([positions], config.headDim, config.ropeTheta);

    const gradients = (forward: (input: Tensor) => Tensor) => {
      const input = x.detach().requireGrad();
      for (const w of weights) w.requireGrad().zeroGrad();
      forward(input).backward(upstream);
      const out = [input.grad!, ...weights.map((w) => w.grad!)].map((g) => Float64Array.from(g.contiguousData()));
      for (const w of weights) w.requireGrad(false).zeroGrad();
      return out;
    };
    const ours = gradients((input) => attention.forward(input, cos, sin, mask, undefined, HookScope.none));
    const composed = gradients((input) => composedAttention(attention, config.numAttentionHeads, config.numKeyValueHeads, config.headDim, input, cos, sin, mask, 'add'));
    ours.forEach((g, i) => expectClose(g, composed[i], TOLERANCES.gradient, i === 0 ? 'd/dx' : `d/d ${attention.namedParameters()[i - 1][0]}`));
    // and the pad rows matter: filling the mask in instead gives other query gradients
    const filled = gradients((input) => composedAttention(attention, config.numAttentionHeads, config.numKeyValueHeads, config.headDim, input, cos, sin, mask, 'fill'));
    const qProj = 1; // q_proj.weight comes first among the block's weights
    expect(ours[qProj].some((v, i) => Math.abs(v - filled[qProj][i]) > 1e-3)).toBe(true);
  });
});

/**
 * The same attention from primitive ops: projections, RoPE, grouped heads by
 * repetition, scores, softcap as c tanh(s / c), the mask added (or filled in,
 * to show the difference) and softmax as exp(z - max z) / sum exp(z - max z).
 */
function composedAttention(block: Gemma2Attention, heads: number, kvHeads: number, hd: number, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor, masking: 'add' | 'fill'): Tensor {
  const [B, T] = x.shape;
  const split = (y: Tensor, n: number) => y.reshape([B, T, n, hd]).permute([0, 2, 1, 3]);
  const q = ops.rope(split(ops.linear(x, block.qProj.weight), heads), cos, sin);
  const repeat = (y: Tensor) => y.unsqueeze(2).expand([B, kvHeads, heads / kvHeads, T, hd]).reshape([B, heads, T, hd]);
  const k = repeat(ops.rope(split(ops.linear(x, block.kProj.weight), kvHeads), cos, sin));
  const v = repeat(split(ops.linear(x, block.vProj.weight), kvHeads).contiguous());
  let s = ops.mul(ops.matmul(q, k.transpose(-1, -2)), 4 ** -0.5);
  s = ops.mul(ops.tanh(ops.mul(s, 1 / 5)), 5);
  const z = masking === 'add' ? ops.add(s, mask) : ops.maskedFill(s, ops.mul(mask, 1 / MASKED_SCORE), MASKED_SCORE);
  const e = ops.exp(ops.sub(z, ops.max(z, -1, true)));
  const p = ops.div(e, ops.sum(e, -1, true));
  const o = ops.matmul(p, v).permute([0, 2, 1, 3]).reshape([B, T, heads * hd]);
  return ops.linear(o, block.oProj.weight);
}
