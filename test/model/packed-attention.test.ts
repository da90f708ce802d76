// Packed rows (padding-free packing, as Transformers' DataCollatorWithFlattening
// feeds them): documents side by side, position ids restarting at 0 for each.
// The masks keep each document to itself, on global and sliding layers, and a
// packed batch gives the loss and the gradients of its documents run one by
// one (the tiny golden model, chat-format examples from the fixture tokenizer).

import { describe, expect, test } from 'vitest';
import { fileURLToPath } from 'node:url';
import { MASKED_SCORE, additiveMask, documentsFromPositionIds } from '../../lib/model/masks.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { mul } from '../../lib/ops/index.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { Trainer, tokenLossSum } from '../../lib/train/trainer.ts';
import { Dataset } from '../../lib/train/data.ts';
import { tokenizeJsonl } from '../../lib/train/jsonl-examples.ts';
import { packExamples } from '../../lib/train/packing.ts';
import { IGNORE_INDEX } from '../../lib/train/data-error.ts';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';

const TINY = fileURLToPath(new URL('../../golden/models/tiny', import.meta.url));

/** The mask as rows of 1 (visible) and 0 (masked), per batch row. */
function visibility(mask: Tensor): number[][][] {
  const [B, , T, S] = mask.shape;
  const data = mask.contiguousData();
  return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => Array.from({ length: S }, (_, s) => (data[(b * T + t) * S + s] === 0 ? 1 : 0))));
}

describe('documents from position ids', () => {
  test('a position id 0 past the start opens a new document; rows that never restart are one document', () => {
    expect([...documentsFromPositionIds([0, 1, 2, 0, 1, 0])]).toEqual([0, 0, 0, 1, 1, 2]);
    expect([...documentsFromPositionIds([0, 1, 2, 3])]).toEqual([0, 0, 0, 0]);
    expect([...documentsFromPositionIds([5, 6, 7])]).toEqual([0, 0, 0]); // a continuation (no restart)
    expect([...documentsFromPositionIds([1, 1, 0, 1, 2])]).toEqual([0, 0, 1, 1, 1]); // generation's left padding: pads before the first real token
  });

  test('the additive mask is block-diagonal by document, and the sliding window lies within the document', () => {
    const positions = [0, 1, 2, 3, 4, 5];
    const documents = [documentsFromPositionIds([0, 1, 2, 3, 0, 1])];
    expect(visibility(additiveMask({ queryPositions: positions, keyPositions: positions, documents }))).toEqual([
      [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 1, 1],
      ],
    ]);
    expect(visibility(additiveMask({ queryPositions: positions, keyPositions: positions, documents, slidingWindow: 2 }))).toEqual([
      [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 1, 1],
      ],
    ]);
    // with padding too: the padded tail (its own run of positions) is never seen
    const padded = additiveMask({ queryPositions: [0, 1, 2], keyPositions: [0, 1, 2], documents: [documentsFromPositionIds([0, 1, 0])], keyPadding: [[1, 1, 0]] });
    expect(visibility(padded)).toEqual([
      [
        [1, 0, 0],
        [1, 1, 0],
        [0, 0, 0],
      ],
    ]);
    expect(padded.contiguousData()[6]).toBe(MASKED_SCORE);
  });
});

describe('a packed batch', () => {
  // Conversations a little longer than the tiny model's sliding window (8), so the sliding layers' window matters.
  const tokenizer = HfTokenizer.fromPretrained(FIXTURE_DIR);
  const lines = [
    { messages: [{ role: 'user', content: 'Hi, add 12 and 30.' }, { role: 'assistant', content: '42' }] },
    { messages: [{ role: 'user', content: 'reverse: abc' }, { role: 'assistant', content: 'cba' }, { role: 'user', content: 'and xy?' }, { role: 'assistant', content: 'yx' }] },
    { messages: [{ role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Hi' }] },
    { messages: [{ role: 'user', content: '7 times 6' }, { role: 'assistant', content: '42.' }] },
  ];
  // Every token counted (not only the assistant turns): every position's prediction is compared,
  // and an example's first token, which its neighbour must not be trained to predict, is a label.
  const { examples } = tokenizeJsonl('chat.jsonl', lines.map((l) => JSON.stringify(l)).join('\n'), tokenizer, { completionOnlyLoss: false });
  const T = 80;
  const packed = packExamples(examples, T, tokenizer.padTokenId);
  const rows = packed.inputIds.length / T;

  function gradients(model: Gemma2ForCausalLM): Map<string, Float32Array> {
    return new Map(model.namedParameters().map(([name, p]) => [name, Float32Array.from(p.grad!.contiguousData() as Float32Array)]));
  }

  /** The sum of token losses over the packed rows. */
  function packedLossSum(model: Gemma2ForCausalLM, positionIds: Int32Array | null): Tensor {
    const shape = [rows, T];
    const { logits } = model.forward({
      inputIds: Tensor.fromData(packed.inputIds, shape),
      attentionMask: Tensor.fromData(packed.attentionMask, shape),
      positionIds: positionIds === null ? undefined : Tensor.fromData(positionIds, shape),
    });
    return tokenLossSum(logits, Tensor.fromData(packed.labels, shape));
  }

  test('gives the loss and the gradients of its documents run one by one', () => {
    expect(rows).toBe(2); // 4 conversations of 13 to 44 tokens in rows of 80
    const counted = examples.reduce((n, e) => n + e.labels.slice(1).filter((l) => l !== IGNORE_INDEX).length, 0);
    const model = Gemma2ForCausalLM.fromPretrained(TINY);
    for (const [, p] of model.namedParameters()) p.requireGrad();

    // one by one: each document its own [1, length] batch, gradients accumulated over all of them
    let sumAlone = 0;
    for (const { ids, labels } of examples) {
      const { logits } = model.forward({ inputIds: Tensor.fromData(Int32Array.from(ids), [1, ids.length]) });
      const summed = tokenLossSum(logits, Tensor.fromData(Int32Array.from(labels), [1, labels.length]));
      mul(summed, 1 / counted).backward();
      sumAlone += summed.item();
    }
    const alone = gradients(model);
    for (const [, p] of model.namedParameters()) p.zeroGrad();

    const summed = packedLossSum(model, packed.positionIds);
    mul(summed, 1 / counted).backward();
    const sumPacked = summed.item();
    const together = gradients(model);
    // Measured on the webasm backend: the loss sums agree to 6e-8 relative, the gradients to
    // 1.1e-5 of each tensor's largest entry (the sums run in another order in a row of 80
    // than in a document alone); the bounds leave a margin of about 15 and 9.
    expect(Math.abs(sumPacked - sumAlone) / sumAlone).toBeLessThan(1e-6);
    for (const [name, expected] of alone) {
      const actual = together.get(name)!;
      const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const worst = actual.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i])), 0);
      expect(worst, `${name}: largest difference ${worst} of a largest entry ${scale}`).toBeLessThanOrEqual(1e-4 * scale + 1e-9);
    }
  });

  test("the trainer feeds the packed rows' position ids to the model: its eval loss is that of the documents one by one", () => {
    const model = Gemma2ForCausalLM.fromPretrained(TINY);
    const data = new Dataset(packed.inputIds, packed.labels, packed.attentionMask, T, 'packed chat', [], packed.positionIds);
    const trainer = new Trainer({ model, train: data, eval: data, options: { batchSize: 2, steps: 1 } });
    let sum = 0;
    let counted = 0;
    noGrad(() => {
      for (const { ids, labels } of examples) {
        const { logits } = model.forward({ inputIds: Tensor.fromData(Int32Array.from(ids), [1, ids.length]) });
        sum += tokenLossSum(logits, Tensor.fromData(Int32Array.from(labels), [1, labels.length])).item();
        counted += labels.slice(1).filter((l) => l !== IGNORE_INDEX).length;
      }
    });
    const { loss, tokens } = trainer.evaluate();
    expect(tokens).toBe(counted);
    expect(Math.abs(loss - sum / counted) / (sum / counted)).toBeLessThan(1e-6);
  });

  test('without the restarting position ids the documents see each other, and the loss differs', () => {
    const model = Gemma2ForCausalLM.fromPretrained(TINY);
    const restarted = noGrad(() => packedLossSum(model, packed.positionIds).item());
    const continuous = noGrad(() => packedLossSum(model, null).item());
    expect(Math.abs(restarted - continuous) / restarted).toBeGreaterThan(1e-3);
  });
});
