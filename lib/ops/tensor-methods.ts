// The chained forms of the ops (x.add(y), x.reshape([...]), ...), attached to
// Tensor.prototype from here, as TensorFlow.js attaches its chained ops, so
// that lib/tensor never imports the ops. lib/ops/index.ts imports this file:
// importing the ops gives every method. Each method is its op; the docs are
// on the op functions.

import { Tensor } from '../tensor/tensor.ts';
import { add, div, mul, neg, pow, sub, type Operand } from './arithmetic.ts';
import { exp, log, rsqrt, sqrt, tanh } from './unary.ts';
import { max, mean, sum } from './reduce.ts';
import { logSoftmax, softmax } from './softmax.ts';
import { matmul } from './matmul.ts';
import { contiguous, expand, narrow, permute, reshape, slice, squeeze, transpose, unsqueeze } from './views.ts';
import { copyFrom } from './in-place.ts';

declare module '../tensor/tensor.ts' {
  interface Tensor {
    // ---- views (no copy)
    /** Same elements in a new shape; one entry may be -1. A view when this tensor is contiguous. */
    reshape(shape: number[]): Tensor;
    /** Swaps two axes (the last two by default); a view. */
    transpose(axis0?: number, axis1?: number): Tensor;
    /** The axes in a new order; a view. */
    permute(order: number[]): Tensor;
    /** `length` elements from `start` along `axis`; a view. */
    narrow(axis: number, start: number, length: number): Tensor;
    /** Elements start, start+step, ... below end along `axis` (Python slice semantics); a view. */
    slice(axis: number, start: number, end?: number, step?: number): Tensor;
    /** Size-1 axes (and new leading axes) broadcast to `shape`, stride 0; a view. */
    expand(shape: number[]): Tensor;
    /** A new size-1 axis at `axis`. */
    unsqueeze(axis: number): Tensor;
    /** Removes the size-1 axis `axis`. */
    squeeze(axis: number): Tensor;
    /** A row-major tensor with the same values (this tensor itself when already contiguous). */
    contiguous(): Tensor;
    // ---- in place
    /** Overwrites the elements with `source`'s, in place (bumps the version; inside noGrad for a tensor that requires a gradient). */
    copyFrom(source: Tensor | NestedArray): this;
    // ---- ops
    /** this + other, broadcast. */
    add(other: Operand): Tensor;
    /** this - other, broadcast. */
    sub(other: Operand): Tensor;
    /** this * other, broadcast. */
    mul(other: Operand): Tensor;
    /** this / other, broadcast. */
    div(other: Operand): Tensor;
    /** this ** exponent, broadcast. */
    pow(exponent: Operand): Tensor;
    /** -this. */
    neg(): Tensor;
    /** Element-wise square root. */
    sqrt(): Tensor;
    /** Element-wise 1 / sqrt. */
    rsqrt(): Tensor;
    /** Element-wise e^x. */
    exp(): Tensor;
    /** Element-wise natural logarithm. */
    log(): Tensor;
    /** Element-wise tanh. */
    tanh(): Tensor;
    /** Sum along `axis`, or of every element. */
    sum(axis?: number, keepDim?: boolean): Tensor;
    /** Mean along `axis`, or of every element. */
    mean(axis?: number, keepDim?: boolean): Tensor;
    /** Largest value along `axis`, or of every element. */
    max(axis?: number, keepDim?: boolean): Tensor;
    /** Softmax along `axis` (the last by default). */
    softmax(axis?: number): Tensor;
    /** Log-softmax along `axis` (the last by default). */
    logSoftmax(axis?: number): Tensor;
    /** Matrix product (NumPy semantics: batch axes broadcast, 1-D operands promoted). */
    matmul(other: Tensor): Tensor;
  }
}

const methods: ThisType<Tensor> & Partial<Tensor> = {
  reshape(shape) {
    return reshape(this, shape);
  },
  transpose(axis0 = -2, axis1 = -1) {
    return transpose(this, axis0, axis1);
  },
  permute(order) {
    return permute(this, order);
  },
  narrow(axis, start, length) {
    return narrow(this, axis, start, length);
  },
  slice(axis, start, end, step) {
    return slice(this, axis, start, end, step);
  },
  expand(shape) {
    return expand(this, shape);
  },
  unsqueeze(axis) {
    return unsqueeze(this, axis);
  },
  squeeze(axis) {
    return squeeze(this, axis);
  },
  contiguous() {
    return contiguous(this);
  },
  copyFrom(source) {
    return copyFrom(this, source);
  },
  add(other) {
    return add(this, other);
  },
  sub(other) {
    return sub(this, other);
  },
  mul(other) {
    return mul(this, other);
  },
  div(other) {
    return div(this, other);
  },
  pow(exponent) {
    return pow(this, exponent);
  },
  neg() {
    return neg(this);
  },
  sqrt() {
    return sqrt(this);
  },
  rsqrt() {
    return rsqrt(this);
  },
  exp() {
    return exp(this);
  },
  log() {
    return log(this);
  },
  tanh() {
    return tanh(this);
  },
  sum(axis, keepDim = false) {
    return sum(this, axis, keepDim);
  },
  mean(axis, keepDim = false) {
    return mean(this, axis, keepDim);
  },
  max(axis, keepDim = false) {
    return max(this, axis, keepDim);
  },
  softmax(axis = -1) {
    return softmax(this, axis);
  },
  logSoftmax(axis = -1) {
    return logSoftmax(this, axis);
  },
  matmul(other) {
    return matmul(this, other);
  },
};

// Non-enumerable, as methods declared in the class body are.
for (const [name, method] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: method, writable: true, configurable: true });
}
