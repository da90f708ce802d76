// The op registry: every public op in one list, each with
//   forward    the function lib/ops/index.ts exports;
//   reference  its float64 oracle in reference/;
//   gradient   the rules it records in the gradient table (gradients.ts),
//              and/or the registered ops it is built from (composedOf), or why
//              it has no gradient;
//   kernels    the kernels its forward and its rule launch, by the names
//              kernelStats() reports (kernels built from other registered ops
//              are theirs; every op may also launch elementwise.add, the sum
//              the tape adds gradients with);
//   tolerance  how close its forward must be to the reference (kernels/tolerances.ts);
//   sample     small random arguments from a seed, for the generic property
//              test (test/ops/registry.test.ts): forward against the reference,
//              gradients against central differences of the reference.
// A new op is one entry here, its forward, its reference and its rule.

import { Tensor } from '../tensor/tensor.ts';
import { randint, uniform } from '../tensor/creation.ts';
import { Generator } from '../tensor/random.ts';
import { TOLERANCES, type Tolerance } from '../../kernels/tolerances.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import type { GradientOp } from './gradients.ts';
import { add, addScalar, div, mul, mulScalar, neg, pow, powScalar, rdivScalar, rsubScalar, sub } from './arithmetic.ts';
import { exp, geluTanh, log, rsqrt, softcap, sqrt, tanh } from './unary.ts';
import { geluTanhMul } from './gated-gelu.ts';
import { argmax, logSumExp, max, mean, sum, sumToShape } from './reduce.ts';
import { logSoftmax, softmax } from './softmax.ts';
import { linear, matmul } from './matmul.ts';
import { linearSoftcap } from './linear-softcap.ts';
import { attention } from './attention.ts';
import { embedding } from './embedding.ts';
import { concat } from './concat.ts';
import { maskedFill, where } from './where.ts';
import { crossEntropy } from './cross-entropy.ts';
import { binaryCrossEntropyWithLogits } from './binary-cross-entropy.ts';
import { rmsNorm } from './rms-norm.ts';
import { rope } from './rope.ts';
import { dropout } from './dropout.ts';
import { contiguous, expand, narrow, permute, reshape, slice, squeeze, transpose, unsqueeze } from './views.ts';
import { copyFrom } from './in-place.ts';

/** How an op differentiates. */
export type GradientDeclaration =
  /** By its own rules in the gradient table, and possibly by the ops it calls. */
  | { rules: readonly GradientOp[]; composedOf?: readonly string[] }
  /** Only through the registered ops it is built from. */
  | { composedOf: readonly string[] }
  /** Not at all, and why. */
  | { notDifferentiable: string };

/** One call of an op on seeded random arguments, and the same call of its reference. */
export interface OpSample<Forward, Reference> {
  /** The tensor arguments: float32 values in the op's domain, and ids, masks or tables where it takes them. */
  tensors: Tensor[];
  /** Positions in `tensors` whose gradients are checked against central differences of the reference. */
  differentiable: number[];
  /** Calls the op with `tensors` and the sample's other arguments (axes, options). */
  forward(op: Forward, tensors: Tensor[]): Tensor;
  /** Calls the reference on the same values in float64: a tensor, or a number for a scalar loss. */
  reference(ref: Reference, tensors: RefTensor[]): RefTensor | number;
}

export interface OpEntry<Forward = AnyForward, Reference = AnyReference> {
  forward: Forward;
  reference: Reference;
  gradient: GradientDeclaration;
  kernels: readonly string[];
  tolerance: Tolerance;
  sample(seed: number): OpSample<Forward, Reference>;
}

type AnyForward = (...args: never[]) => Tensor;
type AnyReference = (...args: never[]) => RefTensor | number;

/** An entry, typed while it is written, stored without its argument types. */
function op<Forward extends AnyForward, Reference extends AnyReference>(entry: OpEntry<Forward, Reference>): OpEntry {
  return entry as unknown as OpEntry;
}

// ---- sample arguments ---------------------------------------------------------

/** Float32 values uniform in [low, high). */
const values = (shape: number[], seed: number, low = -2, high = 2): Tensor => uniform(shape, low, high, { seed });

type Range = [number, number];
type Binary = (a: Tensor, b: Tensor) => Tensor;
type BinaryRef = (a: RefTensor, b: RefTensor) => RefTensor;
type Unary = (x: Tensor) => Tensor;
type UnaryRef = (x: RefTensor) => RefTensor;

/** Pairs of shapes that broadcast: equal, expanded on both sides, a missing leading axis. */
const BROADCAST_PAIRS: [number[], number[]][] = [
  [[2, 3], [2, 3]],
  [[2, 1, 3], [4, 1]],
  [[3], [2, 3]],
];

function binarySample(seed: number, rangeA: Range, rangeB: Range): OpSample<Binary, BinaryRef> {
  const [shapeA, shapeB] = BROADCAST_PAIRS[seed % BROADCAST_PAIRS.length];
  return {
    tensors: [values(shapeA, seed, ...rangeA), values(shapeB, seed + 1, ...rangeB)],
    differentiable: [0, 1],
    forward: (f, [a, b]) => f(a, b),
    reference: (ref, [a, b]) => ref(a, b),
  };
}

const UNARY_SHAPES = [[2, 3], [4], []];

function unarySample(seed: number, range: Range): OpSample<Unary, UnaryRef> {
  return {
    tensors: [values(UNARY_SHAPES[seed % UNARY_SHAPES.length], seed, ...range)],
    differentiable: [0],
    forward: (f, [x]) => f(x),
    reference: (ref, [x]) => ref(x),
  };
}

/** A tensor and a number `s` (the scalar forms). */
function scalarSample(seed: number, s: number, range: Range): OpSample<(x: Tensor, s: number) => Tensor, (x: RefTensor, s: number) => RefTensor> {
  return {
    tensors: [values(UNARY_SHAPES[seed % UNARY_SHAPES.length], seed, ...range)],
    differentiable: [0],
    forward: (f, [x]) => f(x, s),
    reference: (ref, [x]) => ref(x, s),
  };
}

type Reduce = (x: Tensor, axis: number, keepDim: boolean) => Tensor;
type ReduceRef = (x: RefTensor, axis: number, keepDim: boolean) => RefTensor;

/** [2, 3, 4] reduced along each axis (the last counted from the end), with and without keepDim. */
function reductionSample(seed: number, range: Range, differentiable = [0]): OpSample<Reduce, ReduceRef> {
  const axis = [0, 1, -1][seed % 3];
  const keepDim = seed % 2 === 0;
  return {
    tensors: [values([2, 3, 4], seed, ...range)],
    differentiable,
    forward: (f, [x]) => f(x, axis, keepDim),
    reference: (ref, [x]) => ref(x, axis, keepDim),
  };
}

/** Along the last axis (the fused row kernels) for odd seeds, along a middle axis for even ones. */
function softmaxSample(seed: number): OpSample<(x: Tensor, axis: number) => Tensor, (x: RefTensor, axis: number) => RefTensor> {
  const [shape, axis] = seed % 2 === 1 ? [[3, 5], -1] : [[3, 4, 2], 1];
  return {
    tensors: [values(shape, seed, -4, 4)],
    differentiable: [0],
    forward: (f, [x]) => f(x, axis),
    reference: (ref, [x]) => ref(x, axis),
  };
}

/** One tensor of `shape` and a view op's other arguments. */
function viewSample<Args extends unknown[]>(
  seed: number,
  shape: number[],
  ...args: Args
): OpSample<(x: Tensor, ...args: Args) => Tensor, (x: RefTensor, ...args: Args) => RefTensor> {
  return {
    tensors: [values(shape, seed)],
    differentiable: [0],
    forward: (f, [x]) => f(x, ...args),
    reference: (ref, [x]) => ref(x, ...args),
  };
}

/** 0 or 1 at random, as float32. */
function coinFlips(shape: number[], seed: number): Tensor {
  return Tensor.fromData(Float32Array.from(values(shape, seed, 0, 1).contiguousData(), (u) => (u < 0.5 ? 0 : 1)), shape);
}

/** The uniform draws a Generator seeded with `seed` gives dropout for `count` elements. */
function dropoutDraws(seed: number, count: number): number[] {
  const generator = new Generator(seed);
  return Array.from({ length: count }, () => generator.nextFloat());
}

// ---- the registry ---------------------------------------------------------------

export const OP_REGISTRY: Readonly<Record<string, OpEntry>> = {
  // ---- arithmetic: numpy broadcasting; a broadcast input's gradient is summed back (reduce.sum)
  add: op({
    forward: add,
    reference: R.add,
    gradient: { rules: ['add'], composedOf: ['addScalar'] },
    kernels: ['elementwise.add', 'reduce.sum'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => binarySample(seed, [-2, 2], [-2, 2]),
  }),
  sub: op({
    forward: sub,
    reference: R.sub,
    gradient: { rules: ['sub'], composedOf: ['addScalar', 'rsubScalar'] },
    kernels: ['elementwise.sub', 'elementwise.neg', 'reduce.sum'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => binarySample(seed, [-2, 2], [-2, 2]),
  }),
  mul: op({
    forward: mul,
    reference: R.mul,
    gradient: { rules: ['mul'], composedOf: ['mulScalar'] },
    kernels: ['elementwise.mul', 'reduce.sum'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => binarySample(seed, [-2, 2], [-2, 2]),
  }),
  div: op({
    forward: div,
    reference: R.div,
    gradient: { rules: ['div'], composedOf: ['mulScalar', 'rdivScalar'] },
    kernels: ['elementwise.div', 'elementwise.mul', 'elementwise.neg', 'reduce.sum'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => binarySample(seed, [-2, 2], [0.5, 2]),
  }),
  pow: op({
    forward: pow,
    reference: R.pow,
    gradient: { rules: ['pow'], composedOf: ['powScalar'] },
    kernels: ['elementwise.pow', 'elementwise.addScalar', 'elementwise.mul', 'elementwise.log', 'reduce.sum'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => binarySample(seed, [0.2, 2], [-2, 2]),
  }),
  neg: op({
    forward: neg,
    reference: R.neg,
    gradient: { rules: ['neg'] },
    kernels: ['elementwise.neg'],
    tolerance: TOLERANCES.exact,
    sample: (seed) => unarySample(seed, [-2, 2]),
  }),
  addScalar: op({
    forward: addScalar,
    reference: R.addScalar,
    gradient: { rules: ['addScalar'] },
    kernels: ['elementwise.addScalar'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => scalarSample(seed, 0.75, [-2, 2]),
  }),
  mulScalar: op({
    forward: mulScalar,
    reference: R.mulScalar,
    gradient: { rules: ['mulScalar'] },
    kernels: ['elementwise.mulScalar'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => scalarSample(seed, -1.25, [-2, 2]),
  }),
  powScalar: op({
    forward: powScalar,
    reference: R.powScalar,
    gradient: { rules: ['powScalar'] },
    kernels: ['elementwise.powScalar', 'elementwise.mulScalar', 'elementwise.mul'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => scalarSample(seed, seed % 2 === 0 ? 3 : -1.5, seed % 2 === 0 ? [-2, 2] : [0.2, 2]),
  }),
  rsubScalar: op({
    forward: rsubScalar,
    reference: R.rsubScalar,
    gradient: { rules: ['rsubScalar'] },
    kernels: ['elementwise.rsubScalar', 'elementwise.neg'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => scalarSample(seed, 1.5, [-2, 2]),
  }),
  rdivScalar: op({
    forward: rdivScalar,
    reference: R.rdivScalar,
    gradient: { rules: ['rdivScalar'] },
    kernels: ['elementwise.rdivScalar', 'elementwise.mul', 'elementwise.div', 'elementwise.neg'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => scalarSample(seed, 2, [0.5, 2]),
  }),

  // ---- element-wise functions
  sqrt: op({
    forward: sqrt,
    reference: R.sqrt,
    gradient: { rules: ['sqrt'] },
    kernels: ['elementwise.sqrt', 'elementwise.mulScalar', 'elementwise.div'],
    tolerance: TOLERANCES.rounded,
    sample: (seed) => unarySample(seed, [0.05, 4]),
  }),
  rsqrt: op({
    forward: rsqrt,
    reference: R.rsqrt,
    gradient: { rules: ['rsqrt'] },
    kernels: ['elementwise.rsqrt', 'elementwise.mul', 'elementwise.mulScalar'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => unarySample(seed, [0.05, 4]),
  }),
  exp: op({
    forward: exp,
    reference: R.exp,
    gradient: { rules: ['exp'] },
    kernels: ['elementwise.exp', 'elementwise.mul'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => unarySample(seed, [-4, 4]),
  }),
  log: op({
    forward: log,
    reference: R.log,
    gradient: { rules: ['log'] },
    kernels: ['elementwise.log', 'elementwise.div'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => unarySample(seed, [0.05, 4]),
  }),
  tanh: op({
    forward: tanh,
    reference: R.tanh,
    gradient: { rules: ['tanh'] },
    kernels: ['elementwise.tanh', 'elementwise.mul', 'elementwise.rsubScalar'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => unarySample(seed, [-4, 4]),
  }),
  geluTanh: op({
    forward: geluTanh,
    reference: R.geluTanh,
    gradient: { rules: ['geluTanh'] },
    kernels: ['elementwise.geluTanh', 'elementwise.geluTanhGrad', 'elementwise.mul'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => unarySample(seed, [-5, 5]),
  }),
  geluTanhMul: op({
    forward: geluTanhMul,
    reference: R.geluTanhMul,
    gradient: { rules: ['geluTanhMul'] },
    kernels: ['elementwise.geluTanhMul', 'geluTanhMul.backward'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => {
      const shape = UNARY_SHAPES[seed % UNARY_SHAPES.length];
      return {
        tensors: [values(shape, seed, -5, 5), values(shape, seed + 1)],
        differentiable: [0, 1],
        forward: (f, [gate, up]) => f(gate, up),
        reference: (ref, [gate, up]) => ref(gate, up),
      };
    },
  }),
  softcap: op({
    forward: softcap,
    reference: R.softcap,
    gradient: { rules: ['softcap'] },
    kernels: ['elementwise.softcap', 'elementwise.softcapGrad'],
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => scalarSample(seed, 2.5, [-8, 8]),
  }),

  // ---- reductions
  sum: op({
    forward: sum,
    reference: R.sum,
    gradient: { rules: ['sum'], composedOf: ['reshape'] },
    kernels: ['reduce.sum'],
    tolerance: TOLERANCES.reduction,
    sample: (seed) => reductionSample(seed, [-2, 2]),
  }),
  mean: op({
    forward: mean,
    reference: R.mean,
    gradient: { composedOf: ['sum', 'mulScalar'] },
    kernels: [],
    tolerance: TOLERANCES.reduction,
    sample: (seed) => reductionSample(seed, [-2, 2]),
  }),
  max: op({
    forward: max,
    reference: R.max,
    gradient: { rules: ['max'], composedOf: ['reshape'] },
    kernels: ['reduce.max', 'reduce.argmax', 'elementwise.equalTo', 'elementwise.mul'],
    tolerance: TOLERANCES.exact,
    sample: (seed) => reductionSample(seed, [-2, 2]),
  }),
  argmax: op({
    forward: argmax,
    reference: R.argmax,
    gradient: { notDifferentiable: 'its output is int32 indices' },
    kernels: ['reduce.argmax'],
    tolerance: TOLERANCES.exact,
    sample: (seed) => reductionSample(seed, [-2, 2], []),
  }),
  logSumExp: op({
    forward: logSumExp,
    reference: R.logSumExp,
    gradient: { rules: ['logSumExp'] },
    kernels: ['reduce.logSumExp', 'reduce.max', 'elementwise.sub', 'elementwise.expSub', 'elementwise.mul'],
    tolerance: TOLERANCES.softmax,
    sample: (seed) => reductionSample(seed, [-4, 4]),
  }),
  sumToShape: op({
    forward: sumToShape,
    reference: R.sumToShape,
    gradient: { composedOf: ['sum'] },
    kernels: [],
    tolerance: TOLERANCES.reduction,
    sample: (seed) => ({
      tensors: [values([2, 3, 4], seed)],
      differentiable: [0],
      forward: (f, [g]) => f(g, seed % 2 === 0 ? [3, 1] : [1, 4]),
      reference: (ref, [g]) => ref(g, seed % 2 === 0 ? [3, 1] : [1, 4]),
    }),
  }),

  // ---- softmax (GPU.js runs softmax.rows as max, sub, log-sum-exp, expSub, and its backward as mul, sum, sub, mul)
  softmax: op({
    forward: softmax,
    reference: R.softmax,
    gradient: { rules: ['softmax'] },
    kernels: ['softmax.rows', 'softmax.backwardRows', 'reduce.max', 'reduce.logSumExp', 'reduce.sum', 'elementwise.sub', 'elementwise.expSub', 'elementwise.mul'],
    tolerance: TOLERANCES.softmax,
    sample: softmaxSample,
  }),
  logSoftmax: op({
    forward: logSoftmax,
    reference: R.logSoftmax,
    gradient: { rules: ['logSoftmax'] },
    kernels: ['reduce.max', 'reduce.logSumExp', 'reduce.sum', 'elementwise.sub', 'elementwise.exp', 'elementwise.mul'],
    tolerance: TOLERANCES.softmax,
    sample: softmaxSample,
  }),

  // ---- products
  matmul: op({
    forward: matmul,
    reference: R.matmul,
    gradient: { rules: ['matmul'], composedOf: ['unsqueeze', 'squeeze'] },
    kernels: ['matmul.NN', 'matmul.NT', 'matmul.TN', 'reduce.sum'],
    tolerance: TOLERANCES.matmul,
    sample: (seed) => {
      const shapes = [
        [[2, 3], [3, 4]],
        [[2, 3, 4], [4, 5]],
        [[3], [3, 2]],
        [[2, 1, 3, 4], [3, 4, 2]],
      ][seed % 4];
      return {
        tensors: [values(shapes[0], seed), values(shapes[1], seed + 1)],
        differentiable: [0, 1],
        forward: (f, [a, b]) => f(a, b),
        reference: (ref, [a, b]) => ref(a, b),
      };
    },
  }),
  linear: op({
    forward: linear,
    reference: R.linear,
    gradient: { rules: ['linear'], composedOf: ['reshape', 'add'] },
    kernels: ['matmul.NT', 'matmul.NN', 'matmul.TN'],
    tolerance: TOLERANCES.matmul,
    sample: (seed) => ({
      tensors: [values([2, 3, 4], seed), values([5, 4], seed + 1), values([5], seed + 2)],
      differentiable: [0, 1, 2],
      forward: (f, [x, weight, bias]) => f(x, weight, bias),
      reference: (ref, [x, weight, bias]) => ref(x, weight, bias),
    }),
  }),

  linearSoftcap: op({
    forward: linearSoftcap,
    reference: R.linearSoftcap,
    gradient: { rules: ['linearSoftcap'], composedOf: ['reshape', 'softcap', 'linear'] },
    kernels: ['linearSoftcap.forward', 'matmul.NT', 'elementwise.softcap', 'elementwise.softcapGrad', 'matmul.NN', 'matmul.TN'],
    tolerance: TOLERANCES.matmul,
    sample: (seed) => ({
      tensors: [values([2, 3, 4], seed), values([5, 4], seed + 1)],
      differentiable: [0, 1],
      forward: (f, [x, weight]) => f(x, weight, 1.5),
      reference: (ref, [x, weight]) => ref(x, weight, 1.5),
    }),
  }),
  attention: op({
    forward: attention,
    reference: R.attention,
    gradient: { rules: ['attention'] },
    // GPU.js runs attention.rows as mulScalar, softcap, add and softmax.rows (max, sub, log-sum-exp, expSub), and attention.backwardRows
    // as softmax.backwardRows (mul, sum, sub, mul), softcapGrad and mulScalar
    kernels: ['matmul.NT', 'matmul.NN', 'matmul.TN', 'attention.rows', 'attention.backwardRows', 'softmax.rows', 'softmax.backwardRows', 'elementwise.mulScalar', 'elementwise.softcap', 'elementwise.softcapGrad', 'elementwise.add', 'elementwise.sub', 'elementwise.expSub', 'elementwise.mul', 'reduce.max', 'reduce.logSumExp', 'reduce.sum'],
    tolerance: TOLERANCES.fused,
    sample: (seed) => {
      // B 2, kv 1, two query heads of T 3 stacked, S 4 keys; a causal mask with one cached key, per sequence or shared
      const maskBatch = seed % 2 === 0 ? 2 : 1;
      const mask = Tensor.fromData(Float32Array.from({ length: maskBatch * 3 * 4 }, (_, i) => ((i % 4) > ((i >> 2) % 3) + 1 ? -1e30 : 0)), [maskBatch, 1, 3, 4]);
      const cap = seed % 3 === 0 ? null : 2;
      return {
        tensors: [values([2, 1, 6, 5], seed), values([2, 1, 4, 5], seed + 1), values([2, 1, 4, 5], seed + 2), mask],
        differentiable: [0, 1, 2],
        forward: (f, [q, k, v, m]) => f(q, k, v, m, { scaling: 0.5, softcap: cap }),
        reference: (ref, [q, k, v, m]) => ref(q, k, v, m, 0.5, cap),
      };
    },
  }),

  // ---- selection
  embedding: op({
    forward: embedding,
    reference: R.embedding,
    gradient: { rules: ['embedding'] },
    kernels: ['embedding.gather', 'embedding.scatterRows'],
    tolerance: TOLERANCES.exact,
    sample: (seed) => ({
      tensors: [randint([2, 3], 0, 5, { seed }), values([5, 3], seed + 1)],
      differentiable: [1],
      forward: (f, [ids, weight]) => f(ids, weight),
      reference: (ref, [ids, weight]) => ref(Array.from(ids.data), ids.shape, weight),
    }),
  }),
  concat: op({
    forward: concat,
    reference: R.concat,
    gradient: { rules: ['concat'] },
    kernels: ['concat.pair'],
    tolerance: TOLERANCES.exact,
    sample: (seed) => {
      const axis = seed % 2 === 0 ? 1 : 0;
      const shapes = axis === 1 ? [[2, 1, 3], [2, 2, 3], [2, 3, 3]] : [[1, 3], [2, 3], [3, 3]];
      return {
        tensors: shapes.map((shape, i) => values(shape, seed + i)),
        differentiable: [0, 1, 2],
        forward: (f, tensors) => f(tensors, axis),
        reference: (ref, tensors) => ref(tensors, axis),
      };
    },
  }),
  where: op({
    forward: where,
    reference: R.where,
    gradient: { rules: ['where'] },
    kernels: ['elementwise.where', 'elementwise.selectIf', 'elementwise.selectUnless', 'reduce.sum'],
    tolerance: TOLERANCES.exact,
    sample: (seed) => ({
      tensors: [coinFlips([2, 1, 3], seed), values([2, 4, 3], seed + 1), values([4, 1], seed + 2)],
      differentiable: [1, 2],
      forward: (f, [condition, a, b]) => f(condition, a, b),
      reference: (ref, [condition, a, b]) => ref(condition, a, b),
    }),
  }),
  maskedFill: op({
    forward: maskedFill,
    reference: R.maskedFill,
    gradient: { rules: ['maskedFill'] },
    kernels: ['elementwise.whereScalar', 'elementwise.selectUnless', 'reduce.sum'],
    tolerance: TOLERANCES.exact,
    sample: (seed) => ({
      tensors: [values([3, 4], seed), randint([1, 4], 0, 2, { seed: seed + 1 })],
      differentiable: [0],
      forward: (f, [x, mask]) => f(x, mask, -1.5),
      reference: (ref, [x, mask]) => ref(x, mask, -1.5),
    }),
  }),

  // ---- losses and fused ops
  crossEntropy: op({
    forward: crossEntropy,
    reference: R.crossEntropy,
    gradient: { rules: ['crossEntropy'], composedOf: ['reshape'] },
    kernels: ['reduce.logSumExp', 'crossEntropy.grad'],
    tolerance: TOLERANCES.fused,
    sample: (seed) => {
      const targets = randint([4], 0, 5, { seed: seed + 1 });
      targets.contiguousData()[seed % 4] = -100; // one ignored row
      return {
        tensors: [values([4, 5], seed, -4, 4), targets],
        differentiable: [0],
        forward: (f, [logits, t]) => f(logits, t),
        reference: (ref, [logits, t]) => ref(logits, Array.from(t.data)),
      };
    },
  }),
  binaryCrossEntropyWithLogits: op({
    forward: binaryCrossEntropyWithLogits,
    reference: R.binaryCrossEntropyWithLogits,
    gradient: { composedOf: ['unsqueeze', 'concat', 'logSumExp', 'sub', 'mul', 'mean', 'sum'] },
    kernels: [],
    tolerance: TOLERANCES.fused,
    sample: (seed) => ({
      tensors: [values([2, 3], seed, -4, 4), values([2, 3], seed + 1, 0, 1)],
      differentiable: [0, 1],
      forward: (f, [logits, targets]) => f(logits, targets),
      reference: (ref, [logits, targets]) => ref(logits, targets),
    }),
  }),
  rmsNorm: op({
    forward: rmsNorm,
    reference: R.rmsNorm,
    gradient: { rules: ['rmsNorm'] },
    kernels: ['rmsNorm.forward', 'rmsNorm.backward'],
    tolerance: TOLERANCES.fused,
    sample: (seed) => ({
      tensors: [values([2, 3, 5], seed), values([5], seed + 1, -0.5, 0.5)],
      differentiable: [0, 1],
      forward: (f, [x, weight]) => f(x, weight, 1e-6),
      reference: (ref, [x, weight]) => ref(x, weight, 1e-6),
    }),
  }),
  rope: op({
    forward: rope,
    reference: R.rope,
    gradient: { rules: ['rope'] },
    kernels: ['rope.forward', 'rope.backward'],
    tolerance: TOLERANCES.fused,
    sample: (seed) => ({
      // one table for the batch, or one per sequence
      tensors: [values([2, 2, 3, 4], seed), values([seed % 2 === 0 ? 1 : 2, 3, 4], seed + 1, -1, 1), values([seed % 2 === 0 ? 1 : 2, 3, 4], seed + 2, -1, 1)],
      differentiable: [0],
      forward: (f, [x, cos, sin]) => f(x, cos, sin),
      reference: (ref, [x, cos, sin]) => ref(x, cos, sin),
    }),
  }),
  dropout: op({
    forward: dropout,
    reference: R.dropout,
    gradient: { composedOf: ['mul'] },
    kernels: [],
    // x times a float32 1 / (1 - p): two roundings
    tolerance: TOLERANCES.transcendental,
    sample: (seed) => ({
      tensors: [values([3, 4], seed)],
      differentiable: [0],
      forward: (f, [x]) => f(x, 0.25, new Generator(seed)),
      reference: (ref, [x]) => ref(x, 0.25, dropoutDraws(seed, x.data.length)),
    }),
  }),

  // ---- views: no arithmetic; backward moves the gradient back (an expand's is summed)
  reshape: op({
    forward: reshape,
    reference: R.reshape,
    gradient: { rules: ['reshape'], composedOf: ['contiguous'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => viewSample(seed, [2, 3, 4], seed % 2 === 0 ? [4, 6] : [-1, 2]),
  }),
  permute: op({
    forward: permute,
    reference: R.permute,
    gradient: { rules: ['permute'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => viewSample(seed, [2, 3, 4], seed % 2 === 0 ? [2, 0, 1] : [1, -1, 0]),
  }),
  transpose: op({
    forward: transpose,
    reference: R.transpose,
    gradient: { composedOf: ['permute'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => (seed % 2 === 0 ? viewSample(seed, [2, 3, 4], 0, 2) : viewSample(seed, [2, 3, 4], -1, -2)),
  }),
  slice: op({
    forward: slice,
    reference: R.slice,
    gradient: { rules: ['slice'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) =>
      seed % 2 === 0
        ? viewSample<[number, number, number | undefined, number]>(seed, [5, 4], 0, 1, undefined, 2) // every other row from the second
        : viewSample<[number, number, number | undefined, number]>(seed, [5, 4], -1, -3, 4, 1),
  }),
  narrow: op({
    forward: narrow,
    reference: R.narrow,
    gradient: { composedOf: ['slice'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => (seed % 2 === 0 ? viewSample(seed, [4, 5], 1, 1, 3) : viewSample(seed, [4, 5], 0, 2, 2)),
  }),
  expand: op({
    forward: expand,
    reference: R.expand,
    gradient: { rules: ['expand'], composedOf: ['sumToShape'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => (seed % 2 === 0 ? viewSample(seed, [3, 1], [2, 3, 4]) : viewSample(seed, [1, 4], [3, -1])),
  }),
  squeeze: op({
    forward: squeeze,
    reference: R.squeeze,
    gradient: { composedOf: ['reshape'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => viewSample(seed, [3, 1, 4], seed % 2 === 0 ? 1 : -2),
  }),
  unsqueeze: op({
    forward: unsqueeze,
    reference: R.unsqueeze,
    gradient: { composedOf: ['reshape'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => viewSample(seed, [3, 4], [0, 1, -1][seed % 3]),
  }),
  contiguous: op({
    forward: contiguous,
    reference: R.contiguous,
    gradient: { rules: ['contiguous'] },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => ({
      tensors: [transpose(values([4, 3], seed), 0, 1)], // a strided view, so contiguous copies
      differentiable: [0],
      forward: (f, [x]) => f(x),
      reference: (ref, [x]) => ref(x),
    }),
  }),

  // ---- in place
  copyFrom: op({
    forward: copyFrom,
    reference: R.copyFrom,
    gradient: { notDifferentiable: 'it writes in place and is not recorded; it bumps the version counter instead' },
    kernels: [],
    tolerance: TOLERANCES.exact,
    sample: (seed) => ({
      tensors: [transpose(values([3, 2], seed), 0, 1), values([2, 3], seed + 1)], // written through a strided view
      differentiable: [],
      forward: (f, [target, source]) => f(target, source),
      reference: (ref, [target, source]) => ref(target, source),
    }),
  }),
};
