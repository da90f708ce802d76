// Element-wise functions of one tensor. Each backward restates its derivative.

import type { Tensor } from '../tensor/tensor.ts';
import { record } from '../autograd/tape.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { div, mul, mulScalar, rsubScalar } from './arithmetic.ts';

export function sqrt(x: Tensor): Tensor {
  expectFloat('sqrt', x);
  const out = elementwise('sqrt', [x]);
  // d sqrt(x) = 1 / (2 sqrt(x))
  return record(out, 'sqrt', [x], (g) => [div(mulScalar(g, 0.5), out)]);
}

export function rsqrt(x: Tensor): Tensor {
  expectFloat('rsqrt', x);
  const out = elementwise('rsqrt', [x]);
  // d x^(-1/2) = -1/2 x^(-3/2) = -1/2 out^3
  return record(out, 'rsqrt', [x], (g) => [mul(g, mulScalar(mul(out, mul(out, out)), -0.5))]);
}

export function exp(x: Tensor): Tensor {
  expectFloat('exp', x);
  const out = elementwise('exp', [x]);
  return record(out, 'exp', [x], (g) => [mul(g, out)]);
}

export function log(x: Tensor): Tensor {
  expectFloat('log', x);
  return record(elementwise('log', [x]), 'log', [x], (g) => [div(g, x)]);
}

export function tanh(x: Tensor): Tensor {
  expectFloat('tanh', x);
  const out = elementwise('tanh', [x]);
  // d tanh(x) = 1 - tanh(x)^2
  return record(out, 'tanh', [x], (g) => [mul(g, rsubScalar(mul(out, out), 1))]);
}

/**
 * Gemma's soft capping, cap tanh(x / cap): squashes x smoothly into (-cap, cap).
 * One kernel for the divide, tanh and multiply that Transformers runs as three.
 */
export function softcap(x: Tensor, cap: number): Tensor {
  expectFloat('softcap', x);
  if (!(cap > 0 && Number.isFinite(cap))) throw new RangeError(`softcap: the cap must be a positive finite number, got ${cap}`);
  const out = elementwise('softcap', [x], cap);
  // d/dx cap tanh(x / cap) = 1 - tanh(x / cap)^2 = 1 - (out / cap)^2
  return record(out, 'softcap', [x], (g) => [elementwise('softcapGrad', [out, g], cap)]);
}

/** GELU with the tanh approximation (Transformers' gelu_pytorch_tanh). */
export function geluTanh(x: Tensor): Tensor {
  expectFloat('geluTanh', x);
  return record(elementwise('geluTanh', [x]), 'geluTanh', [x], (g) => [mul(g, elementwise('geluTanhGrad', [x]))]);
}
