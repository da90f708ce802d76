// The fused attention block (lib/ops/attention.ts) against the ops it
// replaces (mul by the scaling, softcap, add of the mask, softmax, matmul,
// as lib/model/attention.ts composes them for its hook points): forward and
// the gradients of q, k and v bit for bit on every compute path, over random
// shapes with grouped query heads, cached keys (S > T, T = 1 as a decode step
// has), causal, sliding-window and left-padding masks (fully masked rows),
// -infinity masks (rows all -infinity are NaN, as composed), with and without
// the softcap; against the float64 reference; its forward in blocks without
// gradients; and its errors.

import { afterEach, expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { GradientError, noGrad } from '../../lib/autograd/tape.ts';
import * as R from '../../reference/index.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { withComputePath } from '../../kernels/backend.ts';
import { MASKED_SCORE } from '../../lib/model/masks.ts';
import { describeEachBackend, expectClose, randomTensor, seedArb, toRef } from '../helpers.ts';

type MaskKind = 'causal' | 'sliding' | 'left-padded' | 'minus-infinity';

interface AttentionCase {
  B: number;
  kv: number;
  groups: number;
  T: number;
  /** Cached key slots before this call's T. */
  past: number;
  hd: number;
  maskKind: MaskKind;
  perSequence: boolean;
  cap: number | null;
  seed: number;
}

const caseArb: fc.Arbitrary<AttentionCase> = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  kv: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 3 }),
  T: fc.integer({ min: 1, max: 5 }),
  past: fc.integer({ min: 0, max: 4 }),
  hd: fc.integer({ min: 1, max: 9 }),
  maskKind: fc.constantFrom<MaskKind>('causal', 'sliding', 'left-padded', 'minus-infinity'),
  perSequence: fc.boolean(),
  cap: fc.constantFrom<number | null>(null, 2, 50),
  seed: seedArb,
});

/**
 * The additive mask [B or 1, 1, T, S] (S = past + T): query t sees key s up
 * to its own position past + t; 'sliding' also hides keys more than 2 back;
 * 'left-padded' hides sequence b's first b + 1 slots, so its first queries
 * see nothing (a row of finfo.min); 'minus-infinity' writes -infinity where
 * the others write finfo.min, with query 0's row wholly -infinity.
 */
function maskFor(c: AttentionCase): Tensor {
  const batch = c.perSequence ? c.B : 1;
  const S = c.past + c.T;
  const blocked = c.maskKind === 'minus-infinity' ? -Infinity : MASKED_SCORE;
  const data = new Float32Array(batch * c.T * S);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < c.T; t++) {
      for (let s = 0; s < S; s++) {
        const position = c.past + t;
        let visible = s <= position;
        if (c.maskKind === 'sliding') visible &&= position - s < 3;
        if (c.maskKind === 'left-padded') visible &&= s > b;
        if (c.maskKind === 'minus-infinity') visible &&= t > 0;
        data[(b * c.T + t) * S + s] = visible ? 0 : blocked;
      }
    }
  }
  return Tensor.fromData(data, [batch, 1, c.T, S]);
}

/** The block as lib/model/attention.ts composes it for its hook points. */
function composed(q: Tensor, keys: Tensor, values: Tensor, mask: Tensor, c: AttentionCase, scaling: number): Tensor {
  const [B, kv, rows] = q.shape;
  const S = keys.shape[2];
  let scores = ops.mul(ops.matmul(q, keys.transpose(-1, -2)), scaling);
  if (c.cap !== null) scores = ops.softcap(scores, c.cap);
  const masked = ops.add(scores.reshape([B, kv, c.groups, c.T, S]), mask.unsqueeze(1));
  return ops.matmul(ops.softmax(masked, -1).reshape([B, kv, rows, S]), values);
}

const SCALING = 256 ** -0.5;
const bits = (t: Tensor) => Array.from(t.contiguousData());

/** q, k, v of a case (values wide enough that the softcap at 2 bends), each asking for a gradient. */
function inputs(c: AttentionCase) {
  const S = c.past + c.T;
  return {
    q: randomTensor([c.B, c.kv, c.groups * c.T, c.hd], c.seed, -6, 6).requireGrad(),
    keys: randomTensor([c.B, c.kv, S, c.hd], c.seed + 1, -6, 6).requireGrad(),
    values: randomTensor([c.B, c.kv, S, c.hd], c.seed + 2).requireGrad(),
  };
}

afterEach(() => {
  ops.attentionLimits.chunkFloats = 4 * 2 ** 20;
});

describeEachBackend('attention (fused)', (backend) => {
  test('forward and the gradients of q, k, v have the bits of the composed ops, on every path', () => {
    const paths = backend === 'webasm' ? (['cpu', 'gpujs'] as const) : ([undefined] as const);
    fc.assert(
      fc.property(caseArb, (c) => {
        const mask = maskFor(c);
        for (const path of paths) {
          const run = (fused: boolean) => {
            const { q, keys, values } = inputs(c);
            const o = fused ? ops.attention(q, keys, values, mask, { scaling: SCALING, softcap: c.cap }) : composed(q, keys, values, mask, c, SCALING);
            o.backward(randomTensor(o.shape, c.seed + 3));
            return { o, dq: q.grad!, dk: keys.grad!, dv: values.grad! };
          };
          const within = <T>(fn: () => T) => (path === undefined ? fn() : withComputePath(path, fn));
          const fused = within(() => run(true));
          const reference = within(() => run(false));
          const where = `${backend}${path === undefined ? '' : ` ${path} path`} ${JSON.stringify(c)}`;
          expect(bits(fused.o), `o ${where}`).toEqual(bits(reference.o));
          expect(bits(fused.dq), `dq ${where}`).toEqual(bits(reference.dq));
          expect(bits(fused.dk), `dk ${where}`).toEqual(bits(reference.dk));
          expect(bits(fused.dv), `dv ${where}`).toEqual(bits(reference.dv));
        }
      }),
      { numRuns: 30 },
    );
  });

  test('forward matches the float64 reference (rows with a visible key)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        if (c.maskKind === 'minus-infinity') return; // its first row is NaN in both: compared bit for bit above
        const mask = maskFor(c);
        const { q, keys, values } = inputs(c);
        const o = ops.attention(q, keys, values, mask, { scaling: SCALING, softcap: c.cap });
        expectClose(o, R.attention(toRef(q), toRef(keys), toRef(values), toRef(mask), SCALING, c.cap), TOLERANCES.fused, `attention ${JSON.stringify(c)}`);
      }),
      { numRuns: 30 },
    );
  });

  test('without gradients, the forward in blocks of entries, or of rows of one entry, gives the bits of one pass', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 1, max: 3 }), fc.boolean(), (c, perBlock, rowBlocks) => {
        const mask = maskFor(c);
        const { q, keys, values } = inputs(c);
        const run = () => noGrad(() => ops.attention(q, keys, values, mask, { scaling: SCALING, softcap: c.cap }));
        const whole = bits(run());
        const S = c.past + c.T;
        // perBlock entries of groups * T rows each, or perBlock rows of one entry
        ops.attentionLimits.chunkFloats = (rowBlocks ? perBlock : perBlock * c.groups * c.T) * S;
        expect(bits(run()), `${JSON.stringify(c)} ${rowBlocks ? 'rows' : 'entries'} ${perBlock}`).toEqual(whole);
        ops.attentionLimits.chunkFloats = 4 * 2 ** 20;
      }),
      { numRuns: 20 },
    );
  });
});

test('attention: shapes that do not fit together are errors naming attention and the shapes', () => {
  const q = randomTensor([2, 1, 6, 4], 1);
  const kv = randomTensor([2, 1, 5, 4], 2);
  const mask = Tensor.fromData(new Float32Array(3 * 5), [1, 1, 3, 5]);
  const options = { scaling: 0.5, softcap: null };
  expect(() => ops.attention(q, randomTensor([2, 1, 5, 3], 2), kv, mask, options)).toThrow(/attention: keys \[2, 1, 5, 3\] must be \[2, 1, S, 4\] for q \[2, 1, 6, 4\]/);
  expect(() => ops.attention(q, kv, randomTensor([2, 1, 4, 4], 3), mask, options)).toThrow(/attention: values \[2, 1, 4, 4\] and keys \[2, 1, 5, 4\] differ/);
  expect(() => ops.attention(q, kv, kv, Tensor.fromData(new Float32Array(4 * 5), [1, 1, 4, 5]), options)).toThrow(/attention: mask \[1, 1, 4, 5\] must be \[2 or 1, 1, T, 5\] with T dividing q's 6 rows/);
  expect(() => ops.attention(q, kv, kv, Tensor.fromData(new Float32Array(3 * 4), [1, 1, 3, 4]), options)).toThrow(/attention: mask \[1, 1, 3, 4\] must be/);
  expect(() => ops.attention(q, kv, kv, Tensor.fromData(new Float32Array(3 * 3 * 5), [3, 1, 3, 5]), options)).toThrow(/attention: mask \[3, 1, 3, 5\] must be/);
  expect(() => ops.attention(q.reshape([2, 6, 4]), kv, kv, mask, options)).toThrow(/attention: q must have rank 4/);
  expect(() => ops.attention(q, kv, kv, mask, { scaling: 0.5, softcap: 0 })).toThrow(/attention: softcap must be null or a finite number > 0, got 0/);
});

test('attention: asking for the mask\'s gradient is a GradientError naming attention, never a silent zero', () => {
  const mask = Tensor.fromData(new Float32Array(3 * 5), [1, 1, 3, 5]).requireGrad();
  const o = ops.attention(randomTensor([1, 1, 3, 4], 1).requireGrad(), randomTensor([1, 1, 5, 4], 2), randomTensor([1, 1, 5, 4], 3), mask, { scaling: 0.5, softcap: 2 });
  expect(() => ops.sum(o).backward()).toThrow(GradientError);
  const again = ops.attention(randomTensor([1, 1, 3, 4], 1), randomTensor([1, 1, 5, 4], 2), randomTensor([1, 1, 5, 4], 3), mask, { scaling: 0.5, softcap: 2 });
  expect(() => ops.sum(again).backward()).toThrow(/attention: no gradient rule for input 3 \(shape \[1, 1, 3, 5\]\)/);
});
