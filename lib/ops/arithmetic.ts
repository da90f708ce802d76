// add, sub, mul, div, pow with numpy broadcasting, their scalar variants, and
// neg. Their gradients are in the gradient table (gradients.ts); a broadcast
// input receives the output gradient summed back to its own shape.

import { Tensor } from '../tensor/tensor.ts';
import { record } from './record.ts';
import { elementwise } from './elementwise.ts';
import { expectFloat } from './check.ts';

export type Operand = Tensor | number;

export function add(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return add(asTensor('add', b), a);
  if (typeof b === 'number') return addScalar(a, b);
  expectFloat('add', a, b);
  return record(elementwise('add', [a, b]), 'add', [a, b]);
}

export function sub(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return rsubScalar(asTensor('sub', b), a);
  if (typeof b === 'number') return addScalar(a, -b);
  expectFloat('sub', a, b);
  return record(elementwise('sub', [a, b]), 'sub', [a, b]);
}

export function mul(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return mulScalar(asTensor('mul', b), a);
  if (typeof b === 'number') return mulScalar(a, b);
  expectFloat('mul', a, b);
  return record(elementwise('mul', [a, b]), 'mul', [a, b]);
}

export function div(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') return rdivScalar(asTensor('div', b), a);
  if (typeof b === 'number') return mulScalar(a, 1 / b);
  expectFloat('div', a, b);
  return record(elementwise('div', [a, b]), 'div', [a, b]);
}

/** a ** b, element-wise; b may be a number or a broadcastable tensor. */
export function pow(a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') a = Tensor.fromData(new Float32Array([a]), []);
  if (typeof b === 'number') return powScalar(a, b);
  expectFloat('pow', a, b);
  return record(elementwise('pow', [a, b]), 'pow', [a, b]);
}

export function neg(a: Tensor): Tensor {
  expectFloat('neg', a);
  return record(elementwise('neg', [a]), 'neg', [a]);
}

export function addScalar(a: Tensor, s: number): Tensor {
  expectFloat('add', a);
  return record(elementwise('addScalar', [a], s), 'addScalar', [a]);
}

export function mulScalar(a: Tensor, s: number): Tensor {
  expectFloat('mul', a);
  return record(elementwise('mulScalar', [a], s), 'mulScalar', [a], { scalar: s });
}

export function powScalar(a: Tensor, s: number): Tensor {
  expectFloat('pow', a);
  return record(elementwise('powScalar', [a], s), 'powScalar', [a], { exponent: s });
}

/** s - a */
export function rsubScalar(a: Tensor, s: number): Tensor {
  expectFloat('sub', a);
  return record(elementwise('rsubScalar', [a], s), 'rsubScalar', [a]);
}

/** s / a */
export function rdivScalar(a: Tensor, s: number): Tensor {
  expectFloat('div', a);
  return record(elementwise('rdivScalar', [a], s), 'rdivScalar', [a]);
}

function asTensor(op: string, value: Operand): Tensor {
  if (typeof value === 'number') throw new TypeError(`${op}: at least one operand must be a tensor`);
  return value;
}
