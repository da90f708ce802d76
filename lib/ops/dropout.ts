// Dropout: each element is zeroed with probability p and the survivors are
// scaled by 1 / (1 - p), so the expectation is unchanged. The keep mask is
// drawn on the host from a seeded generator (reproducible runs) and applied
// with the mul kernel, whose backward sends gradients through kept elements
// only. The generator is noted before drawing, so that a gradient checkpoint
// (lib/autograd/checkpoint.ts) can draw the same mask when it recomputes.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError } from '../tensor/shape.ts';
import type { Generator } from '../tensor/random.ts';
import { mul } from './arithmetic.ts';
import { expectFloat } from './check.ts';
import { noteRandomDraw } from '../autograd/checkpoint.ts';

export function dropout(x: Tensor, p: number, generator: Generator): Tensor {
  expectFloat('dropout', x);
  if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout: probability must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const scale = 1 / (1 - p);
  noteRandomDraw(generator);
  const mask = new Float32Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = generator.nextFloat() < p ? 0 : scale;
  return mul(x, Tensor.fromData(mask, x.shape));
}
