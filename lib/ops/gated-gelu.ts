// Gemma2's gated MLP activation, gelu_tanh(gate) * up, as one op: one pass to
// write it (the element-wise formula 'geluTanhMul') and one pass for both
// gradients (kernels/gated-gelu.ts; the rule is in gradients.ts), where
// geluTanh then mul take two forward passes, and their rules four backward
// ones and two more arrays. Each kernel rounds where that pair does, so the
// fused op gives the bits of mul(geluTanh(gate), up) and of its gradients
// (test/ops/fused.test.ts); lib/model/mlp.ts uses it when no hook needs the
// activation in between.

import type { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { record } from './record.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';

/** gelu_tanh(gate) * up, for gate and up of one shape. */
export function geluTanhMul(gate: Tensor, up: Tensor): Tensor {
  expectFloat('geluTanhMul', gate, up);
  if (!sameShape(gate.shape, up.shape)) {
    throw new ShapeError(`geluTanhMul: gate ${formatShape(gate.shape)} and up ${formatShape(up.shape)} must have the same shape`);
  }
  return record(elementwise('geluTanhMul', [gate, up]), 'geluTanhMul', [gate, up]);
}
