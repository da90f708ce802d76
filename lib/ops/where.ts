// Selection: where(condition, a, b) picks a where the condition is non-zero
// and b elsewhere; maskedFill(x, mask, value) writes value where the mask is
// non-zero (value may be -Infinity, as attention masks need). Conditions and
// masks may be int32 or float32 and broadcast like every element-wise op.
// Their gradients are in gradients.ts.

import type { Tensor } from '../tensor/tensor.ts';
import { broadcastShapes } from '../tensor/shape.ts';
import { record } from './record.ts';
import { elementwise } from './elementwise.ts';
import { bfloat16Refused, expectFloat } from './check.ts';

export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  expectFloat('where', a, b);
  if (condition.dtype === 'bfloat16') throw bfloat16Refused('where', condition);
  return record(elementwise('where', [condition, a, b]), 'where', [condition, a, b]);
}

export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  expectFloat('maskedFill', x);
  if (mask.dtype === 'bfloat16') throw bfloat16Refused('maskedFill', mask);
  // checked here so that a bad mask is reported as maskedFill's, not as the kernel formula's ('whereScalar')
  broadcastShapes('maskedFill', x.shape, mask.shape);
  return record(elementwise('whereScalar', [mask, x], value), 'maskedFill', [x, mask]);
}
