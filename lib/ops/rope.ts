// Rotary position embedding (rotate-half): y = x cos + rotate_half(x) sin.
//   x:        [B, heads, T, D]  (D even)
//   cos, sin: [B, T, D] or [1, T, D]  (built from positions by the model;
//             [p * inv_freq, p * inv_freq] halves, GEMMA2.md)
// Only x is differentiable: cos and sin are tables of positions. The gradient
// (gradients.ts) runs the backward rotation kernel.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';
import { record } from './record.ts';
import { runRope, type RopeDims } from '../../kernels/rope.ts';
import { expectFloat, expectRank } from './check.ts';
import { contiguous } from './views.ts';

export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  expectFloat('rope', x, cos, sin);
  expectRank('rope', 'x', x, 4);
  const [B, heads, T, D] = x.shape;
  if (D % 2 !== 0) throw new ShapeError(`rope: head dimension must be even, got x ${formatShape(x.shape)}`);
  // Each table on its own must be [B, T, D] or [1, T, D]; that they agree is checked after, so
  // cos [B, T, D] with sin [1, T, D] is reported as a disagreement, not as a bad sin shape.
  for (const [name, table] of [['cos', cos], ['sin', sin]] as const) {
    if (!sameShape(table.shape, [1, T, D]) && !sameShape(table.shape, [B, T, D])) {
      throw new ShapeError(`rope: ${name} ${formatShape(table.shape)} must be [${B}, ${T}, ${D}] or [1, ${T}, ${D}] for x ${formatShape(x.shape)}`);
    }
  }
  if (!sameShape(cos.shape, sin.shape)) {
    throw new ShapeError(`rope: cos ${formatShape(cos.shape)} and sin ${formatShape(sin.shape)} differ`);
  }
  const perSequence = cos.shape[0] === B && B !== 1;
  const dims: RopeDims = { matrices: B * heads, heads, T, D, perSequence };
  if (x.size === 0) return contiguous(x).detach();
  const cosData = cos.contiguousData();
  const sinData = sin.contiguousData();
  const out = Tensor.fromData(runRope('forward', x.contiguousData(), cosData, sinData, dims), x.shape);
  return record(out, 'rope', [x, cos, sin], { cosData, sinData, dims });
}
