// Creating tensors: constants, ranges, seeded random values, and conversion
// from nested arrays or typed arrays.

import { Tensor, type NestedArray } from './tensor.ts';
import { type DType, type TypedData, allocate, filled, roundToBfloat16 } from './dtype.ts';
import { ShapeError, checkShape, formatShape, numel } from './shape.ts';
import { Generator, defaultGenerator } from './random.ts';

export interface CreationOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

function finish(t: Tensor, options: CreationOptions): Tensor {
  return options.requiresGrad ? t.requireGrad() : t;
}

export function full(shape: number[], value: number, options: CreationOptions = {}): Tensor {
  checkShape('full', shape);
  const data = filled(options.dtype ?? 'float32', numel(shape), value);
  return finish(Tensor.fromData(data, shape), options);
}

export function zeros(shape: number[], options: CreationOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: number[], options: CreationOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** start, start+step, ... below end (1-D). arange(n) is 0..n-1. */
export function arange(start: number, end?: number, step = 1, options: CreationOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new ShapeError('arange: step must not be 0');
  const length = Math.max(0, Math.ceil((end - start) / step));
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype === 'bfloat16' ? 'float32' : dtype, length);
  for (let i = 0; i < length; i++) data[i] = start + i * step;
  return finish(Tensor.fromData(dtype === 'bfloat16' ? roundToBfloat16(data) : data, [length]), options);
}

export interface RandomOptions extends CreationOptions {
  /** A fresh generator with this seed; otherwise `generator`, otherwise the default one. */
  seed?: number;
  generator?: Generator;
}

function generatorFor(options: RandomOptions): Generator {
  if (options.seed !== undefined) return new Generator(options.seed);
  return options.generator ?? defaultGenerator;
}

/** Normal samples: mean + std * N(0, 1). */
export function randn(shape: number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  checkShape('randn', shape);
  const generator = generatorFor(options);
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = mean + std * generator.nextNormal();
  return finish(Tensor.fromData(data, shape), options);
}

/** Uniform samples in [low, high). */
export function uniform(shape: number[], low = 0, high = 1, options: RandomOptions = {}): Tensor {
  checkShape('uniform', shape);
  const generator = generatorFor(options);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * generator.nextFloat();
  return finish(Tensor.fromData(data, shape), options);
}

/** Uniform integers in [low, high), int32. */
export function randint(shape: number[], low: number, high: number, options: RandomOptions = {}): Tensor {
  checkShape('randint', shape);
  const generator = generatorFor(options);
  const data = new Int32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = low + generator.nextInt(high - low);
  return Tensor.fromData(data, shape);
}

/** The shape of a rectangular nested array, or an error naming where it is ragged. */
function nestedShape(value: NestedArray, path = 'value'): number[] {
  if (typeof value === 'number') return [];
  if (!Array.isArray(value)) throw new ShapeError(`tensor: ${path} is neither a number nor an array`);
  if (value.length === 0) return [0];
  const inner = nestedShape(value[0], `${path}[0]`);
  value.forEach((item, i) => {
    const shape = nestedShape(item, `${path}[${i}]`);
    if (shape.length !== inner.length || shape.some((d, k) => d !== inner[k])) {
      throw new ShapeError(`tensor: ragged nested array: ${path}[${i}] has shape ${formatShape(shape)}, ${path}[0] has ${formatShape(inner)}`);
    }
  });
  return [value.length, ...inner];
}

function flatten(value: NestedArray): number[] {
  if (typeof value === 'number') return [value];
  return value.flatMap((item) => flatten(item));
}

/**
 * A tensor from a number, a nested array, or a typed array (a typed array is
 * used as is, without a copy, when its type matches the dtype: a Uint16Array
 * for bfloat16 holds the raw 16-bit patterns). Numbers given for a bfloat16
 * tensor are rounded to it (nearest, ties to even).
 */
export function tensor(value: NestedArray | Float32Array | Int32Array | Uint16Array | ArrayLike<number>, options: CreationOptions & { shape?: number[] } = {}): Tensor {
  const isTyped = ArrayBuffer.isView(value);
  const dtype = options.dtype ?? (value instanceof Int32Array ? 'int32' : 'float32');
  const asIs = (dtype === 'float32' && value instanceof Float32Array) || (dtype === 'int32' && value instanceof Int32Array) || (dtype === 'bfloat16' && value instanceof Uint16Array);
  // numbers for a bfloat16 tensor are gathered as float32 first, then rounded
  const gathered = dtype === 'bfloat16' ? 'float32' : dtype;
  let data: TypedData;
  let shape;
  if (isTyped || (typeof value === 'object' && !Array.isArray(value))) {
    const values = value as ArrayLike<number>;
    shape = options.shape ?? [values.length];
    data = asIs ? (value as TypedData) : allocate(gathered, values.length);
    if (!asIs) for (let i = 0; i < values.length; i++) data[i] = values[i];
  } else {
    const nested = value as NestedArray;
    shape = nestedShape(nested);
    data = allocate(gathered, numel(shape));
    const flat = flatten(nested);
    for (let i = 0; i < flat.length; i++) data[i] = flat[i];
    if (options.shape) shape = options.shape;
  }
  if (numel(shape) !== data.length) {
    throw new ShapeError(`tensor: ${data.length} values cannot fill shape ${formatShape(shape)}`);
  }
  if (dtype === 'int32' && data !== value) {
    const source = Array.isArray(value) ? flatten(value as NestedArray) : Array.from(value as ArrayLike<number>);
    const bad = source.findIndex((v) => !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31);
    if (bad >= 0) throw new ShapeError(`tensor: int32 tensor cannot hold ${source[bad]} (flat position ${bad})`);
  }
  if (dtype === 'bfloat16' && !asIs) data = roundToBfloat16(data as Float32Array);
  return finish(Tensor.fromData(data, shape), { ...options, dtype });
}
