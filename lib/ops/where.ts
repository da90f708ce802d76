// Selection: where(condition, a, b) picks a where the condition is non-zero
// and b elsewhere; maskedFill(x, mask, value) writes value where the mask is
// non-zero (value may be -Infinity, as attention masks need). Conditions and
// masks may be int32 or float32 and broadcast like every element-wise op.

import type { Tensor } from '../tensor/tensor.ts';
import { broadcastShapes } from '../tensor/shape.ts';
import { record } from '../autograd/tape.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { sumToShape } from './reduce.ts';

export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  expectFloat('where', a, b);
  const out = elementwise('where', [condition, a, b]);
  // The gradient flows to a where the condition held and to b elsewhere.
  return record(out, 'where', [condition, a, b], (g) => [
    null,
    a.requiresGrad ? sumToShape(elementwise('selectIf', [condition, g]), a.shape) : null,
    b.requiresGrad ? sumToShape(elementwise('selectUnless', [condition, g]), b.shape) : null,
  ]);
}

export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  expectFloat('maskedFill', x);
  // checked here so that a bad mask is reported as maskedFill's, not as the kernel formula's ('whereScalar')
  broadcastShapes('maskedFill', x.shape, mask.shape);
  const out = elementwise('whereScalar', [mask, x], value);
  return record(out, 'maskedFill', [x, mask], (g) => [sumToShape(elementwise('selectUnless', [mask, g]), x.shape), null]);
}
