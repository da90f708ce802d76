// Writing a tensor's elements in place. Not recorded on the tape (an in-place
// write has no gradient here); instead the write bumps the storage's version
// counter, so a gradient rule that saved this tensor, or a view of it, before
// the write refuses to run (PyTorch's "modified by an inplace operation").

import { Tensor, type NestedArray } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { writeStrided } from '../tensor/strided.ts';
import { tensor } from '../tensor/creation.ts';
import { isGradEnabled } from '../autograd/tape.ts';
import { bfloat16Refused } from './check.ts';

/**
 * Overwrites `target`'s elements with `source`'s (same shape; a tensor or
 * nested arrays), through any view: for optimizer updates and caches. A
 * tensor that requires a gradient may only be written inside noGrad().
 * Returns `target`.
 */
export function copyFrom(target: Tensor, source: Tensor | NestedArray): Tensor {
  // a bfloat16 tensor is a weight kept as its checkpoint stores it: read-only (and never a float32 value's source here)
  if (target.dtype === 'bfloat16') throw bfloat16Refused('copyFrom', target);
  if (source instanceof Tensor && source.dtype === 'bfloat16') throw bfloat16Refused('copyFrom', source);
  const values = source instanceof Tensor ? source : tensor(source, { dtype: target.dtype });
  if (!sameShape(values.shape, target.shape)) {
    throw new ShapeError(`copyFrom: source shape ${formatShape(values.shape)} does not match ${formatShape(target.shape)}`);
  }
  if (target.requiresGrad && isGradEnabled()) {
    throw new ShapeError('copyFrom: writing in place to a tensor that requires a gradient must happen inside noGrad()');
  }
  writeStrided(target.nd, values.contiguousData());
  target.markModifiedInPlace();
  return target;
}
