// The pad row of the embedding gradient (GEMMA2.md, "Embedding gradient"):
// the embedding has padding_idx = pad_token_id, so looking up the pad id adds
// nothing to that row, yet a tied LM head multiplies by the same matrix and
// adds its contribution to every row, the pad row included. Zeroing the pad
// row, or letting lookups reach it, both fail here: at the op level (a
// weight used by an embedding with paddingIdx and by a product) and at the
// model level (the tied causal LM against finite differences of the float64
// reference, where an untied copy of the head isolates its contribution).

import { expect, test } from 'vitest';
import * as ops from '../../lib/ops/index.ts';
import { tensor } from '../../lib/tensor/creation.ts';
import { parseGemma2Config, type Gemma2Config } from '../../lib/model/config.ts';
import { referenceCausalLMLoss, referenceGemma2, type RefWeights } from '../../reference/gemma2.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { describeEachBackend, expectClose, randomTensor } from '../helpers.ts';
import { randomModel } from './arbitraries.ts';

const PAD = 0;

describeEachBackend('the pad row of the embedding gradient', () => {
  test('op level: a weight used by embedding(paddingIdx) and by a product gets only the product in its pad row', () => {
    const [V, H, N] = [5, 3, 4];
    const weight = randomTensor([V, H], 1).requireGrad();
    const ids = tensor([[PAD, 2, PAD], [4, 2, 1]], { dtype: 'int32' });
    const h = randomTensor([N, H], 2);
    const gLookup = randomTensor([2, 3, H], 3);
    const gHead = randomTensor([N, V], 4);
    // sum(embedding * gLookup) + sum((h W^T) * gHead): the two uses of a tied embedding
    const loss = ops.add(ops.sum(ops.mul(ops.embedding(ids, weight, PAD), gLookup)), ops.sum(ops.mul(ops.linear(h, weight), gHead)));
    loss.backward();

    const idList = Array.from(ids.contiguousData());
    const [g1, g2, hd] = [gLookup.contiguousData(), gHead.contiguousData(), h.contiguousData()];
    const expected = new Float64Array(V * H);
    idList.forEach((id, t) => {
      if (id === PAD) return; // padding_idx: lookups of the pad id add nothing
      for (let k = 0; k < H; k++) expected[id * H + k] += g1[t * H + k];
    });
    for (let v = 0; v < V; v++) for (let k = 0; k < H; k++) for (let n = 0; n < N; n++) expected[v * H + k] += g2[n * V + v] * hd[n * H + k];
    expectClose(weight.grad!, { shape: [V, H], data: expected }, TOLERANCES.matmul, 'd loss / d weight');
    // the pad row is the head's contribution alone, which is not zero
    expect(Math.max(...Array.from(expected.subarray(PAD * H, (PAD + 1) * H), Math.abs))).toBeGreaterThan(0.1);
  });

  test('model level: the tied causal LM pad row holds the head contribution only, other rows both (vs the float64 reference)', () => {
    const config = parseGemma2Config({
      vocab_size: 12, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
      head_dim: 4, query_pre_attn_scalar: 4, sliding_window: 3, attn_logit_softcapping: 10, final_logit_softcapping: 5, pad_token_id: PAD,
    });
    const model = randomModel(config, 11); // the pad row is random too, so its lookups change the loss
    const ids = [[2, PAD, 5, 7, PAD, 3], [PAD, 4, PAD, 9, 1, 11]]; // the pad id looked up, no attention mask: every position counts
    const int = (rows: number[][]) => tensor(rows, { dtype: 'int32' });
    for (const [, p] of model.namedParameters()) p.requireGrad();
    model.forward({ inputIds: int(ids), labels: int(ids) }).loss!.backward();
    const grad = model.model.embedTokens.grad!.contiguousData();

    const H = config.hiddenSize;
    const weights: RefWeights = new Map(model.namedParameters().map(([name, p]) => [name, { shape: p.shape, data: Float64Array.from(p.contiguousData()) }]));
    const embed = weights.get('model.embed_tokens.weight')!;
    // the same model with an untied head that starts as a copy of the embedding: its gradient is the head's contribution
    const untied: Gemma2Config = { ...config, tieWordEmbeddings: false };
    const untiedWeights: RefWeights = new Map([...weights, ['lm_head.weight', { shape: embed.shape, data: Float64Array.from(embed.data) }]]);
    const loss = (c: Gemma2Config, w: RefWeights) => referenceCausalLMLoss(referenceGemma2(c, w, { inputIds: ids }, { precision: 'float64' }).logits, c.vocabSize, ids, { precision: 'float64' });
    /** d loss / d row `row` of weight `name`, by central differences. */
    const rowGradient = (c: Gemma2Config, w: RefWeights, name: string, row: number): Float64Array => {
      const data = w.get(name)!.data;
      return Float64Array.from({ length: H }, (_, k) => {
        const i = row * H + k;
        const saved = data[i];
        data[i] = saved + 1e-6;
        const up = loss(c, w);
        data[i] = saved - 1e-6;
        const down = loss(c, w);
        data[i] = saved;
        return (up - down) / 2e-6;
      });
    };
    const MODEL = { atol: 1e-4, rtol: 1e-4 }; // the golden gradients' tolerance: a float32 model against float64
    const ours = (row: number) => grad.subarray(row * H, (row + 1) * H);

    const headOnly = rowGradient(untied, untiedWeights, 'lm_head.weight', PAD);
    expectClose(ours(PAD), headOnly, MODEL, 'pad row = the head contribution');
    // what lookups would add is not negligible: the full derivative of the pad row differs clearly
    const withLookups = rowGradient(config, weights, 'model.embed_tokens.weight', PAD);
    expect(Math.max(...headOnly.map((v, k) => Math.abs(v - withLookups[k])))).toBeGreaterThan(1e-2);
    expect(Math.max(...headOnly.map(Math.abs))).toBeGreaterThan(1e-2);
    // a row that is looked up and predicted gets both contributions
    for (const row of [4, 9]) expectClose(ours(row), rowGradient(config, weights, 'model.embed_tokens.weight', row), MODEL, `row ${row} = lookups + head`);
  });
});
