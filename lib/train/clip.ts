// Gradient-norm clipping, as torch.nn.utils.clip_grad_norm_: the global L2
// norm over every gradient; when it exceeds maxNorm every gradient is scaled
// by maxNorm / (norm + 1e-6). Returns the norm before clipping.

import type { Tensor } from '../tensor/tensor.ts';
import { noGrad } from '../autograd/tape.ts';
import { mul, sum } from '../ops/index.ts';

export function clipGradNorm(parameters: Tensor[], maxNorm: number): number {
  return noGrad(() => {
    const grads = parameters.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    let squares = 0;
    for (const g of grads) squares += sum(mul(g, g)).item();
    const norm = Math.sqrt(squares);
    const scale = maxNorm / (norm + 1e-6);
    if (scale < 1) for (const p of parameters) if (p.grad !== null) p.grad = mul(p.grad, scale);
    return norm;
  });
}
