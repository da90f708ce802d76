// The smallest module system that loading, saving and optimizers need: every
// module lists its parameters under their Hugging Face names.

import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { type WeightDType, allocateWeightStorage } from '../tensor/storage.ts';
import { toBfloat16Bits } from '../tensor/dtype.ts';
import { add, linear } from '../ops/index.ts';

export type NamedParameters = [name: string, parameter: Tensor][];

export interface Module {
  /** Parameters under their checkpoint names, relative to this module. */
  namedParameters(): NamedParameters;
}

/** The parameters of `child`, with `prefix.` in front of each name. */
export function withPrefix(prefix: string, child: Module): NamedParameters {
  return child.namedParameters().map(([name, p]) => [`${prefix}.${name}`, p]);
}

/** How new parameters are filled: Transformers' init (normal(0, std) weights, zero biases and norms) or all zeros (before loading a checkpoint). */
export interface InitOptions {
  generator: Generator | null;
  std: number;
  /**
   * The dtype of the weight matrices (initWeight: the embedding, the
   * projections, an untied LM head): float32 (the default), or bfloat16 to
   * keep a bf16 checkpoint's weights as stored (lib/tensor/dtype.ts; read-only,
   * never trained). Norms and biases are always float32.
   */
  weightDtype?: WeightDType;
}

/**
 * A [rows, cols] weight: normal(0, std) from the generator (rounded to
 * bfloat16 when init.weightDtype is bfloat16), or zeros when there is none.
 * Its storage follows the weight-storage policy of lib/tensor/storage.ts (on
 * the CPU path: the SIMD kernels' memory, where matmuls read it without a copy).
 */
export function initWeight(shape: number[], init: InitOptions): Tensor {
  const length = shape.reduce((n, d) => n * d, 1);
  if ((init.weightDtype ?? 'float32') === 'bfloat16') {
    const bits = allocateWeightStorage(length, 'bfloat16');
    if (init.generator !== null) for (let i = 0; i < length; i++) bits[i] = toBfloat16Bits(init.std * init.generator.nextNormal());
    return Tensor.fromData(bits, shape);
  }
  const data = allocateWeightStorage(length);
  if (init.generator !== null) for (let i = 0; i < data.length; i++) data[i] = init.std * init.generator.nextNormal();
  return Tensor.fromData(data, shape);
}

/** Something added to a Linear's output, e.g. a LoRA update (lib/train/lora.ts). */
export interface LinearAdapter {
  /** The adapter's contribution for input x [..., in]: [..., out]. */
  forward(x: Tensor): Tensor;
}

/** nn.Linear: y = x W^T (+ b), W stored [out_features, in_features]. */
export class Linear implements Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** Set by LoRA: its output is added to the layer's. Not part of namedParameters (the checkpoint stays the base model's). */
  adapter: LinearAdapter | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias: boolean,
    init: InitOptions,
  ) {
    this.weight = initWeight([outFeatures, inFeatures], init);
    this.bias = bias ? Tensor.fromData(new Float32Array(outFeatures), [outFeatures]) : null;
  }

  forward(x: Tensor): Tensor {
    const y = linear(x, this.weight, this.bias ?? undefined);
    return this.adapter === null ? y : add(y, this.adapter.forward(x));
  }

  namedParameters(): NamedParameters {
    return this.bias === null ? [['weight', this.weight]] : [['weight', this.weight], ['bias', this.bias]];
  }
}
