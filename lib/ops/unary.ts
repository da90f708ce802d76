// Element-wise functions of one tensor. Their derivatives are in the gradient
// table (gradients.ts).

import type { Tensor } from '../tensor/tensor.ts';
import { record } from './record.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';

export function sqrt(x: Tensor): Tensor {
  expectFloat('sqrt', x);
  return record(elementwise('sqrt', [x]), 'sqrt', [x]);
}

export function rsqrt(x: Tensor): Tensor {
  expectFloat('rsqrt', x);
  return record(elementwise('rsqrt', [x]), 'rsqrt', [x]);
}

export function exp(x: Tensor): Tensor {
  expectFloat('exp', x);
  return record(elementwise('exp', [x]), 'exp', [x]);
}

export function log(x: Tensor): Tensor {
  expectFloat('log', x);
  return record(elementwise('log', [x]), 'log', [x]);
}

export function tanh(x: Tensor): Tensor {
  expectFloat('tanh', x);
  return record(elementwise('tanh', [x]), 'tanh', [x]);
}

/**
 * Gemma's soft capping, cap tanh(x / cap): squashes x smoothly into (-cap, cap).
 * One kernel for the divide, tanh and multiply that Transformers runs as three.
 */
export function softcap(x: Tensor, cap: number): Tensor {
  expectFloat('softcap', x);
  if (!(cap > 0 && Number.isFinite(cap))) throw new RangeError(`softcap: the cap must be a positive finite number, got ${cap}`);
  return record(elementwise('softcap', [x], cap), 'softcap', [x], { cap });
}

/** GELU with the tanh approximation (Transformers' gelu_pytorch_tanh, huggingface/transformers#21345). */
export function geluTanh(x: Tensor): Tensor {
  expectFloat('geluTanh', x);
  return record(elementwise('geluTanh', [x]), 'geluTanh', [x]);
}
