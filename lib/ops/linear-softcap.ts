// Gemma2's softcapped LM head as one op (GEMMA2.md, "Forward pass" step 4):
//   logits = c tanh((h W^T) / c)
// The softcap is the product's epilogue (kernels/matmul.ts,
// linearSoftcap.forward): on the CPU path it runs on the product's output in
// wasm scratch before that is copied out, so the uncapped logits, [B, T,
// vocab], never become an array of their own. Its rule (gradients.ts) takes
// dz = g (1 - (y / c)^2) from the output alone, then linear's two products.
// Forward and gradients have the bits of softcap(linear(h, W), c) on each
// path (test/ops/fused.test.ts); lib/model/causal-lm.ts uses it when no hook
// needs the uncapped logits.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, numel } from '../tensor/shape.ts';
import { record } from './record.ts';
import { runLinearSoftcap } from '../../kernels/matmul.ts';
import { expectFloat, expectRank, expectWeight } from './check.ts';
import { linear } from './matmul.ts';
import { softcap } from './unary.ts';
import { reshape } from './views.ts';

/** c tanh((x W^T) / c): x [..., in], weight [out, in] (float32, or bfloat16 kept as stored), cap c > 0. */
export function linearSoftcap(x: Tensor, weight: Tensor, cap: number): Tensor {
  expectFloat('linearSoftcap', x);
  expectWeight('linearSoftcap', 'weight', weight);
  expectRank('linearSoftcap', 'weight', weight, 2);
  if (!(Number.isFinite(cap) && cap > 0)) throw new RangeError(`linearSoftcap: cap must be a finite number > 0, got ${cap}`);
  if (x.rank === 0) throw new ShapeError(`linearSoftcap: input must have at least one axis, got shape ${formatShape(x.shape)}`);
  const [outFeatures, inFeatures] = weight.shape;
  if (x.shape[x.rank - 1] !== inFeatures) {
    throw new ShapeError(`linearSoftcap: input ${formatShape(x.shape)} has ${x.shape[x.rank - 1]} features but weight ${formatShape(weight.shape)} expects ${inFeatures}`);
  }
  const rows = numel(x.shape.slice(0, -1));
  // nothing to multiply: the composed ops give the empty or zero result
  if (rows * outFeatures * inFeatures === 0) return softcap(linear(x, weight), cap);
  const x2 = reshape(x, [rows, inFeatures]);
  const data = runLinearSoftcap(x2.contiguousData(), weight.contiguousData(), { batch: 1, M: rows, K: inFeatures, N: outFeatures, aBatched: 0, bBatched: 0 }, cap);
  return reshape(record(Tensor.fromData(data, [rows, outFeatures]), 'linearSoftcap', [x2, weight], { cap }), [...x.shape.slice(0, -1), outFeatures]);
}
