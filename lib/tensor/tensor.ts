// The Tensor: float32 or int32 data held in an ndarray (shape, strides,
// offset), plus what the autograd tape needs (requiresGrad, grad, gradNode).
// Views (reshape, transpose, narrow, expand, ...) share the ndarray's data;
// ops read tensors through contiguousData(), which copies only when a view is
// not laid out row-major.

import { subarrayOf } from './storage.ts';
import ndarray, { type NdArray } from 'ndarray';
import { type DType, type TypedData, allocate, dtypeOf } from './dtype.ts';
import { type Shape, ShapeError, contiguousStrides, formatShape, numel, sameShape } from './shape.ts';
import { backward, isGradEnabled, type BackwardOptions, type GradNode } from '../autograd/tape.ts';
import { formatTensor } from './format.ts';
import * as views from './views.ts';
import * as ops from '../ops/index.ts';

export type NestedArray = number | NestedArray[];

export class Tensor {
  /** The storage: a typed array with shape, strides and offset. */
  readonly nd: NdArray<TypedData>;
  readonly dtype: DType;
  /** True for leaves the user asked gradients of, and for everything computed from them. */
  requiresGrad = false;
  /** d(loss)/d(this), accumulated by backward() on leaves. */
  grad: Tensor | null = null;
  /** How this tensor was computed, when the tape recorded it. */
  gradNode: GradNode | null = null;

  constructor(nd: NdArray<TypedData>) {
    this.nd = nd;
    this.dtype = dtypeOf(nd.data);
  }

  /** A tensor over `data` laid out row-major in `shape` (no copy). */
  static fromData(data: TypedData, shape: Shape): Tensor {
    if (numel(shape) !== data.length) {
      throw new ShapeError(`Tensor.fromData: ${data.length} values cannot fill shape ${formatShape(shape)} (${numel(shape)} elements)`);
    }
    return new Tensor(ndarray(data, shape.slice(), contiguousStrides(shape), 0));
  }

  get shape(): number[] {
    return this.nd.shape.slice();
  }

  get rank(): number {
    return this.nd.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return this.nd.size;
  }

  get strides(): number[] {
    return this.nd.stride.slice();
  }

  /** True when the elements sit row-major and gap-free in the data (size-1 axes ignored). */
  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.rank - 1; i >= 0; i--) {
      const d = this.nd.shape[i];
      if (d === 1) continue;
      if (this.nd.stride[i] !== expected) return false;
      expected *= d;
    }
    return true;
  }

  /**
   * The elements in row-major order: a view of the storage when the tensor is
   * contiguous, otherwise a fresh copy. Callers must not write to it.
   */
  contiguousData(): TypedData {
    if (this.isContiguous()) {
      return subarrayOf(this.nd.data, this.nd.offset, this.nd.offset + this.size);
    }
    return views.copyStrided(this.nd);
  }

  // ---- autograd -------------------------------------------------------------

  /** Marks a leaf as needing gradients; returns this for chaining. */
  requireGrad(flag = true): this {
    if (flag && this.dtype !== 'float32') {
      throw new ShapeError(`requireGrad: only float32 tensors can require gradients, this one is ${this.dtype}`);
    }
    if (this.gradNode !== null) {
      throw new ShapeError('requireGrad: only leaf tensors can be marked; this one was computed by an op (use detach() first)');
    }
    this.requiresGrad = flag;
    return this;
  }

  backward(gradient?: Tensor, options?: BackwardOptions): void {
    backward(this, gradient, options);
  }

  /** The same data, cut off from the tape. */
  detach(): Tensor {
    return new Tensor(this.nd);
  }

  zeroGrad(): void {
    this.grad = null;
  }

  /**
   * Overwrites this tensor's elements with `source`'s (same shape), in place:
   * for optimizer updates and caches. Not recorded on the tape, so a tensor
   * that requires a gradient may only be written inside noGrad().
   */
  copyFrom(source: Tensor): this {
    if (!sameShape(source.shape, this.shape)) {
      throw new ShapeError(`copyFrom: source shape ${formatShape(source.shape)} does not match ${formatShape(this.shape)}`);
    }
    if (this.requiresGrad && isGradEnabled()) {
      throw new ShapeError('copyFrom: writing in place to a tensor that requires a gradient must happen inside noGrad()');
    }
    views.writeStrided(this.nd, source.contiguousData());
    return this;
  }

  // ---- reading ----------------------------------------------------------------

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new ShapeError(`item: only one-element tensors have an item, this one has shape ${formatShape(this.shape)}`);
    }
    return this.contiguousData()[0];
  }

  /** Nested JavaScript arrays (a number for rank 0). */
  toArray(): NestedArray {
    const data = this.contiguousData();
    const shape = this.shape;
    const build = (axis: number, offset: number): NestedArray => {
      if (axis === shape.length) return data[offset];
      const step = numel(shape.slice(axis + 1));
      return Array.from({ length: shape[axis] }, (_, i) => build(axis + 1, offset + i * step));
    };
    return build(0, 0);
  }

  toString(): string {
    return formatTensor(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- views (no copy) --------------------------------------------------------

  reshape(shape: number[]): Tensor {
    return views.reshape(this, shape);
  }
  transpose(axis0 = -2, axis1 = -1): Tensor {
    return views.transpose(this, axis0, axis1);
  }
  permute(order: number[]): Tensor {
    return views.permute(this, order);
  }
  narrow(axis: number, start: number, length: number): Tensor {
    return views.narrow(this, axis, start, length);
  }
  slice(axis: number, start: number, end?: number, step?: number): Tensor {
    return views.slice(this, axis, start, end, step);
  }
  expand(shape: number[]): Tensor {
    return views.expand(this, shape);
  }
  unsqueeze(axis: number): Tensor {
    return views.unsqueeze(this, axis);
  }
  squeeze(axis: number): Tensor {
    return views.squeeze(this, axis);
  }
  /** A row-major tensor with the same values (this tensor itself when already contiguous). */
  contiguous(): Tensor {
    return views.contiguous(this);
  }

  // ---- ops --------------------------------------------------------------------

  add(other: Tensor | number): Tensor {
    return ops.add(this, other);
  }
  sub(other: Tensor | number): Tensor {
    return ops.sub(this, other);
  }
  mul(other: Tensor | number): Tensor {
    return ops.mul(this, other);
  }
  div(other: Tensor | number): Tensor {
    return ops.div(this, other);
  }
  pow(exponent: Tensor | number): Tensor {
    return ops.pow(this, exponent);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  sum(axis?: number, keepDim = false): Tensor {
    return ops.sum(this, axis, keepDim);
  }
  mean(axis?: number, keepDim = false): Tensor {
    return ops.mean(this, axis, keepDim);
  }
  max(axis?: number, keepDim = false): Tensor {
    return ops.max(this, axis, keepDim);
  }
  softmax(axis = -1): Tensor {
    return ops.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return ops.logSoftmax(this, axis);
  }
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }

  /** Same shape and dtype, filled with ones. */
  onesLike(): Tensor {
    return Tensor.fromData(allocate(this.dtype, this.size).fill(1), this.shape);
  }
  /** Same shape and dtype, filled with zeros. */
  zerosLike(): Tensor {
    return Tensor.fromData(allocate(this.dtype, this.size), this.shape);
  }
}
