// add, sub, mul, div, pow with numpy broadcasting, their scalar variants, and
// neg. Backward rules sit beside each forward; a broadcast input receives the
// output gradient summed back to its own shape.

import { Tensor } from '../tensor/tensor.ts';
import { record } from '../autograd/tape.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';
import { sumToShape } from './reduce.ts';
import { log } from './unary.ts';

export type Operand = Tensor | number;

export function add(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return add(asTensor('add', b), a);
  if (typeof b === 'number') return addScalar(a, b);
  expectFloat('add', a, b);
  const out = elementwise('add', [a, b]);
  return record(out, 'add', [a, b], (g) => [
    a.requiresGrad ? sumToShape(g, a.shape) : null,
    b.requiresGrad ? sumToShape(g, b.shape) : null,
  ]);
}

export function sub(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return rsubScalar(asTensor('sub', b), a);
  if (typeof b === 'number') return addScalar(a, -b);
  expectFloat('sub', a, b);
  const out = elementwise('sub', [a, b]);
  return record(out, 'sub', [a, b], (g) => [
    a.requiresGrad ? sumToShape(g, a.shape) : null,
    b.requiresGrad ? sumToShape(neg(g), b.shape) : null,
  ]);
}

export function mul(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return mulScalar(asTensor('mul', b), a);
  if (typeof b === 'number') return mulScalar(a, b);
  expectFloat('mul', a, b);
  const out = elementwise('mul', [a, b]);
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? sumToShape(mul(g, b), a.shape) : null,
    b.requiresGrad ? sumToShape(mul(g, a), b.shape) : null,
  ]);
}

export function div(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return rdivScalar(asTensor('div', b), a);
  if (typeof b === 'number') return mulScalar(a, 1 / b);
  expectFloat('div', a, b);
  const out = elementwise('div', [a, b]);
  // d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2 = -out/b
  return record(out, 'div', [a, b], (g) => [
    a.requiresGrad ? sumToShape(div(g, b), a.shape) : null,
    b.requiresGrad ? sumToShape(neg(div(mul(g, out), b)), b.shape) : null,
  ]);
}

/** a ** b, element-wise; b may be a number or a broadcastable tensor. */
export function pow(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') a = Tensor.fromData(new Float32Array([a]), []);
  if (typeof b === 'number') return powScalar(a, b);
  expectFloat('pow', a, b);
  const base = a;
  const out = elementwise('pow', [base, b]);
  // d(a^b)/da = b a^(b-1) ; d(a^b)/db = a^b ln(a)
  return record(out, 'pow', [base, b], (g) => [
    base.requiresGrad ? sumToShape(mul(g, mul(b, pow(base, sub(b, 1)))), base.shape) : null,
    b.requiresGrad ? sumToShape(mul(g, mul(out, log(base))), b.shape) : null,
  ]);
}

export function neg(a: Tensor): Tensor {
  expectFloat('neg', a);
  return record(elementwise('neg', [a]), 'neg', [a], (g) => [neg(g)]);
}

export function addScalar(a: Tensor, s: number): Tensor {
  expectFloat('add', a);
  return record(elementwise('addScalar', [a], s), 'addScalar', [a], (g) => [g]);
}

export function mulScalar(a: Tensor, s: number): Tensor {
  expectFloat('mul', a);
  return record(elementwise('mulScalar', [a], s), 'mulScalar', [a], (g) => [mulScalar(g, s)]);
}

export function powScalar(a: Tensor, s: number): Tensor {
  expectFloat('pow', a);
  // d(a^s)/da = s a^(s-1)
  return record(elementwise('powScalar', [a], s), 'powScalar', [a], (g) => [mul(g, mulScalar(powScalar(a, s - 1), s))]);
}

/** s - a */
export function rsubScalar(a: Tensor, s: number): Tensor {
  expectFloat('sub', a);
  return record(elementwise('rsubScalar', [a], s), 'rsubScalar', [a], (g) => [neg(g)]);
}

/** s / a */
export function rdivScalar(a: Tensor, s: number): Tensor {
  expectFloat('div', a);
  const out = elementwise('rdivScalar', [a], s);
  // d(s/a)/da = -s/a^2 = -out/a
  return record(out, 'rdivScalar', [a], (g) => [neg(div(mul(g, out), a))]);
}

function asTensor(op: string, value: Operand): Tensor {
  if (typeof value === 'number') throw new TypeError(`${op}: at least one operand must be a tensor`);
  return value;
}
