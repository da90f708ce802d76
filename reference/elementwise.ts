// Element-wise ops, with numpy broadcasting for the binary and ternary ones.

import { type RefTensor, broadcastRead, broadcastShape, size, unravel } from './tensor.ts';

export function map(x: RefTensor, f: (v: number) => number): RefTensor {
  return { shape: x.shape.slice(), data: x.data.map(f) };
}

export function zip(a: RefTensor, b: RefTensor, f: (x: number, y: number) => number): RefTensor {
  const shape = broadcastShape(a.shape, b.shape);
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    data[i] = f(broadcastRead(a, index), broadcastRead(b, index));
  }
  return { shape, data };
}

export const add = (a: RefTensor, b: RefTensor) => zip(a, b, (x, y) => x + y);
export const sub = (a: RefTensor, b: RefTensor) => zip(a, b, (x, y) => x - y);
export const mul = (a: RefTensor, b: RefTensor) => zip(a, b, (x, y) => x * y);
export const div = (a: RefTensor, b: RefTensor) => zip(a, b, (x, y) => x / y);
export const pow = (a: RefTensor, b: RefTensor) => zip(a, b, (x, y) => Math.pow(x, y));

/** The scalar forms: a tensor and a number. */
export const addScalar = (x: RefTensor, s: number) => map(x, (v) => v + s);
export const mulScalar = (x: RefTensor, s: number) => map(x, (v) => v * s);
export const powScalar = (x: RefTensor, s: number) => map(x, (v) => Math.pow(v, s));
/** s - x */
export const rsubScalar = (x: RefTensor, s: number) => map(x, (v) => s - v);
/** s / x */
export const rdivScalar = (x: RefTensor, s: number) => map(x, (v) => s / v);

export const neg = (x: RefTensor) => map(x, (v) => -v);
export const sqrt = (x: RefTensor) => map(x, Math.sqrt);
export const rsqrt = (x: RefTensor) => map(x, (v) => 1 / Math.sqrt(v));
export const exp = (x: RefTensor) => map(x, Math.exp);
export const log = (x: RefTensor) => map(x, Math.log);
export const tanh = (x: RefTensor) => map(x, Math.tanh);

/** Soft capping: cap tanh(x / cap). */
export const softcap = (x: RefTensor, cap: number) => map(x, (v) => cap * Math.tanh(v / cap));

/** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export const geluTanh = (x: RefTensor) =>
  map(x, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));

/** Gemma2's gated MLP activation: gelu_tanh(gate) * up. */
export const geluTanhMul = (gate: RefTensor, up: RefTensor) => zip(geluTanh(gate), up, (a, b) => a * b);

/** a where condition != 0, else b. */
export function where(condition: RefTensor, a: RefTensor, b: RefTensor): RefTensor {
  const shape = broadcastShape(broadcastShape(condition.shape, a.shape), b.shape);
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    data[i] = broadcastRead(condition, index) !== 0 ? broadcastRead(a, index) : broadcastRead(b, index);
  }
  return { shape, data };
}

/** value where mask != 0, else x. */
export function maskedFill(x: RefTensor, mask: RefTensor, value: number): RefTensor {
  return zip(x, mask, (v, m) => (m !== 0 ? value : v));
}
