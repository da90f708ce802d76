// Gemma2RMSNorm: y = x / sqrt(mean(x^2) + eps) * (1 + w), in float32, the
// (1 + w) multiply included before any cast back (huggingface/transformers#29402).
// The weight is stored around 0 (Transformers initialises it to zeros,
// huggingface/transformers#29167), so the layer starts as a plain RMS
// normalisation.

import { Tensor } from '../tensor/tensor.ts';
import { rmsNorm } from '../ops/index.ts';
import type { Module, NamedParameters } from './module.ts';

export class RMSNorm implements Module {
  readonly weight: Tensor;

  constructor(
    size: number,
    readonly eps: number,
  ) {
    this.weight = Tensor.fromData(new Float32Array(size), [size]);
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }

  namedParameters(): NamedParameters {
    return [['weight', this.weight]];
  }
}
