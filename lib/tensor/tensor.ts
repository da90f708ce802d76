// The Tensor: float32, int32 or bfloat16 data (dtype.ts: bfloat16 only for
// weights kept in their stored dtype) held in an ndarray (shape, strides,
// offset), a version counter for in-place writes, and the fields the autograd
// tape fills in (requiresGrad, grad, gradNode). Views share the ndarray's
// data; ops read tensors through contiguousData(), which copies only when a
// view is not laid out row-major.
//
// This folder imports nothing above it. The ops (add, reshape, matmul, ...)
// are attached to Tensor.prototype by lib/ops/tensor-methods.ts and backward()
// by lib/autograd/tape.ts, as TensorFlow.js attaches its chained ops: importing
// lib/ops/index.ts gives every method.

import { subarrayOf } from './storage.ts';
import ndarray, { type NdArray } from 'ndarray';
import { type DType, type TypedData, dtypeOf, filled, readableValues, widenBfloat16 } from './dtype.ts';
import { type Shape, ShapeError, contiguousStrides, formatShape, numel } from './shape.ts';
import { formatTensor } from './format.ts';
import { copyStrided } from './strided.ts';

export type NestedArray = number | NestedArray[];

/**
 * PyTorch's version counter: one per storage, shared by every view of it and
 * by detach(), bumped by each in-place write. The tape keeps the versions of
 * the tensors a gradient rule saves and refuses to use one that changed.
 */
interface VersionCounter {
  value: number;
}

/**
 * What the autograd tape attaches to a tensor an op computed. Declared here,
 * beside the Tensor that holds it, so that the tensor never imports autograd:
 * lib/autograd writes these nodes (record) and reads them (backward).
 */
export interface GradNode {
  /** The op's name: its key in the gradient table (lib/ops/gradients.ts). */
  readonly op: string;
  /** The op's tensor inputs, in order; emptied once backward has used the node. */
  inputs: readonly Tensor[];
  /** The tensor the op computed (the one holding this node). */
  readonly output: Tensor;
  /** What the forward hands its gradient rule besides tensors (axes, scalars, host arrays); null once freed. */
  attrs: unknown;
  /** The versions of the tensors the rule saves, in the order of its `saves`, when the op was recorded. */
  readonly savedVersions: readonly number[];
  /** True once backward has run through the node and dropped what it held (no retainGraph). */
  freed: boolean;
}

export class Tensor {
  /** The storage: a typed array with shape, strides and offset. */
  readonly nd: NdArray<TypedData>;
  readonly dtype: DType;
  /** True for leaves the user asked gradients of, and for everything computed from them. */
  requiresGrad = false;
  /** d(loss)/d(this), accumulated by backward() on leaves, and on computed tensors that asked with retainGrad(). */
  grad: Tensor | null = null;
  /** Set by retainGrad(): backward keeps this computed tensor's gradient in .grad (PyTorch's retain_grad). */
  retainsGrad = false;
  /** How this tensor was computed, when the tape recorded it. */
  gradNode: GradNode | null = null;
  /** Shared with the views of this storage; made on first need (most tensors are never viewed or written in place). */
  private versionCounter: VersionCounter | null = null;

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
    return copyStrided(this.nd);
  }

  /**
   * The elements in row-major order as float32: contiguousData() for a
   * float32 tensor, a widened copy (exact) for a bfloat16 one, a converted
   * copy for int32. Callers must not write to it.
   */
  floatData(): Float32Array {
    const data = this.contiguousData();
    if (data instanceof Float32Array) return data;
    return data instanceof Uint16Array ? widenBfloat16(data) : Float32Array.from(data);
  }

  /**
   * This tensor as float32 (PyTorch's .float()): itself when it is float32,
   * otherwise a new tensor with the values widened (bfloat16: exactly), off
   * the tape (a bfloat16 or int32 tensor never requires gradients).
   */
  float(): Tensor {
    if (this.dtype === 'float32') return this;
    return Tensor.fromData(this.floatData(), this.shape);
  }

  /** A tensor over this one's storage in another layout: a view, sharing the data and the version counter. */
  viewAs(shape: number[], stride: number[], offset: number): Tensor {
    return this.sharingStorage(ndarray(this.nd.data, shape, stride, offset));
  }

  // ---- in-place writes --------------------------------------------------------

  /** How many in-place writes this tensor's storage has seen (through any view of it). */
  get version(): number {
    return this.versionCounter === null ? 0 : this.versionCounter.value;
  }

  /**
   * Records that the storage was written in place (copyFrom, an optimizer
   * step, weight loading): a gradient rule that saved this tensor, or any view
   * of its storage, before the write will refuse to run.
   */
  markModifiedInPlace(): void {
    this.sharedVersionCounter().value++;
  }

  private sharedVersionCounter(): VersionCounter {
    return (this.versionCounter ??= { value: 0 });
  }

  /** A new tensor over `nd` (this one's data) that counts versions with this one. */
  private sharingStorage(nd: NdArray<TypedData>): Tensor {
    const tensor = new Tensor(nd);
    tensor.versionCounter = this.sharedVersionCounter();
    return tensor;
  }

  // ---- autograd -------------------------------------------------------------

  /** Marks a leaf as needing gradients; returns this for chaining. */
  requireGrad(flag = true): this {
    if (flag && this.dtype === 'bfloat16') {
      throw new ShapeError(
        "requireGrad: this bfloat16 tensor is a weight kept in its stored dtype, which is never trained; train float32 master weights (fromPretrained(dir, { weightDtype: 'float32' })) or widen it with .float()",
      );
    }
    if (flag && this.dtype !== 'float32') {
      throw new ShapeError(`requireGrad: only float32 tensors can require gradients, this one is ${this.dtype}`);
    }
    if (this.gradNode !== null) {
      throw new ShapeError('requireGrad: only leaf tensors can be marked; this one was computed by an op (use detach() first)');
    }
    this.requiresGrad = flag;
    return this;
  }

  /**
   * Asks backward to keep d(loss)/d(this) in .grad although this tensor was
   * computed by an op (leaves keep theirs anyway): the gradient at an
   * intermediate activation, e.g. at a hook point. Returns this for chaining.
   */
  retainGrad(): this {
    if (!this.requiresGrad) {
      throw new ShapeError('retainGrad: this tensor does not require a gradient (nothing it was computed from requires one), so backward never reaches it');
    }
    this.retainsGrad = true;
    return this;
  }

  /** The same data, cut off from the tape (sharing the version counter, as in PyTorch). */
  detach(): Tensor {
    return this.sharingStorage(this.nd);
  }

  zeroGrad(): void {
    this.grad = null;
  }

  // ---- reading ----------------------------------------------------------------

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new ShapeError(`item: only one-element tensors have an item, this one has shape ${formatShape(this.shape)}`);
    }
    return readableValues(this.contiguousData())[0];
  }

  /** Nested JavaScript arrays (a number for rank 0). */
  toArray(): NestedArray {
    const data = readableValues(this.contiguousData());
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

  /** Same shape and dtype, filled with ones. */
  onesLike(): Tensor {
    return Tensor.fromData(filled(this.dtype, this.size, 1), this.shape);
  }
  /** Same shape and dtype, filled with zeros. */
  zerosLike(): Tensor {
    return Tensor.fromData(filled(this.dtype, this.size, 0), this.shape);
  }
}
