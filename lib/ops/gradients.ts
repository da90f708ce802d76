// The gradient table: how every differentiable op differentiates, in one
// place (tinygrad's pattern). A forward calls record(out, 'op', inputs,
// attrs); backward() finds the rule here by the op's name and calls it with
// the gradient of the output g. Each rule:
//   - returns one gradient per input (null where none flows: ids, masks,
//     tables, or an input that does not require one);
//   - declares in `saves` every tensor it reads (input k, or 'output'), so an
//     in-place write to one of them before backward is an error;
//   - states its derivative in a comment.
// Ops not in the table are built from ops that are (mean, dropout,
// binaryCrossEntropyWithLogits, ...; see registry.ts). A rule's arithmetic is
// part of the numerics: changing the order of its ops changes gradients'
// bits, which the goldens check.

import { Tensor } from '../tensor/tensor.ts';
import type { TypedData } from '../tensor/dtype.ts';
import { numel } from '../tensor/shape.ts';
import { writeStrided } from '../tensor/strided.ts';
import { type GradientRule, installGradientTable } from '../autograd/tape.ts';
import { runCrossEntropyGrad } from '../../kernels/cross-entropy.ts';
import { runEmbeddingScatter } from '../../kernels/embedding.ts';
import { runGeluTanhMulBackward } from '../../kernels/gated-gelu.ts';
import { runRmsNormBackward } from '../../kernels/rms-norm.ts';
import { runRope, type RopeDims } from '../../kernels/rope.ts';
import { runSoftmaxBackwardRows } from '../../kernels/softmax.ts';
import { runAttentionBackwardRows } from '../../kernels/attention.ts';
import { runElementwiseFlat } from '../../kernels/elementwise.ts';
import { runMatmul } from '../../kernels/matmul.ts';
import { add, div, mul, mulScalar, neg, pow, powScalar, rsubScalar, sub } from './arithmetic.ts';
import { exp, log } from './unary.ts';
import { argmax, shiftedLogSumExp, sum, sumToShape } from './reduce.ts';
import { elementwise } from './elementwise.ts';
import { batchedProduct } from './matmul.ts';
import { softmaxRows } from './softmax.ts';
import { expand, narrow, permute, reshape, slice, unsqueeze } from './views.ts';
import type { Reduction } from './cross-entropy.ts';

/** A table entry; `Attrs` is what the op's forward passes to record() besides tensors. */
function rule<Attrs = undefined>(entry: GradientRule<Attrs>): GradientRule<Attrs> {
  return entry;
}

interface AxisAttrs {
  axis: number;
  keepDim: boolean;
}

/** The gradient of a reduced tensor, broadcast back over the reduced axis. */
function expandBack(g: Tensor, inputShape: number[], axis: number, keepDim: boolean): Tensor {
  const kept = keepDim ? g : unsqueeze(g, axis);
  return expand(kept, inputShape);
}

/** 0, 1, ..., n-1 along `axis`, size 1 elsewhere: broadcasts against a tensor of `shape`. */
function axisPositions(shape: number[], axis: number): Tensor {
  const n = shape[axis];
  const positionShape = shape.map((_, i) => (i === axis ? n : 1));
  return Tensor.fromData(Float32Array.from({ length: n }, (_, i) => i), positionShape);
}

export const GRADIENTS = {
  // ---- arithmetic (arithmetic.ts); a broadcast input gets its gradient summed back to its shape

  // d(a + b) = da + db
  add: rule({
    saves: [],
    backward: (g, { inputs: [a, b] }) => [a.requiresGrad ? sumToShape(g, a.shape) : null, b.requiresGrad ? sumToShape(g, b.shape) : null],
  }),
  // d(a - b) = da - db
  sub: rule({
    saves: [],
    backward: (g, { inputs: [a, b] }) => [a.requiresGrad ? sumToShape(g, a.shape) : null, b.requiresGrad ? sumToShape(neg(g), b.shape) : null],
  }),
  // d(a b) = b da + a db
  mul: rule({
    saves: [0, 1],
    backward: (g, { inputs: [a, b] }) => [
      a.requiresGrad ? sumToShape(mul(g, b), a.shape) : null,
      b.requiresGrad ? sumToShape(mul(g, a), b.shape) : null,
    ],
  }),
  // d(a / b) = da / b - (a / b^2) db, and a / b^2 = out / b
  div: rule({
    saves: [1, 'output'],
    backward: (g, { inputs: [a, b], output }) => [
      a.requiresGrad ? sumToShape(div(g, b), a.shape) : null,
      b.requiresGrad ? sumToShape(neg(div(mul(g, output), b)), b.shape) : null,
    ],
  }),
  // d(a^b) = b a^(b-1) da + a^b ln(a) db
  pow: rule({
    saves: [0, 1, 'output'],
    backward: (g, { inputs: [a, b], output }) => [
      a.requiresGrad ? sumToShape(mul(g, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
      b.requiresGrad ? sumToShape(mul(g, mul(output, log(a))), b.shape) : null,
    ],
  }),
  // d(-a) = -da
  neg: rule({ saves: [], backward: (g) => [neg(g)] }),
  // d(a + s) = da
  addScalar: rule({ saves: [], backward: (g) => [g] }),
  // d(a s) = s da
  mulScalar: rule<{ scalar: number }>({ saves: [], backward: (g, { attrs }) => [mulScalar(g, attrs.scalar)] }),
  // d(a^s) = s a^(s-1) da
  powScalar: rule<{ exponent: number }>({
    saves: [0],
    backward: (g, { inputs: [a], attrs: { exponent } }) => [mul(g, mulScalar(powScalar(a, exponent - 1), exponent))],
  }),
  // d(s - a) = -da
  rsubScalar: rule({ saves: [], backward: (g) => [neg(g)] }),
  // d(s / a) = -s / a^2 da = -(out / a) da
  rdivScalar: rule({ saves: [0, 'output'], backward: (g, { inputs: [a], output }) => [neg(div(mul(g, output), a))] }),

  // ---- element-wise functions (unary.ts)

  // d sqrt(x) = 1 / (2 sqrt(x)) dx
  sqrt: rule({ saves: ['output'], backward: (g, { output }) => [div(mulScalar(g, 0.5), output)] }),
  // d x^(-1/2) = -1/2 x^(-3/2) dx = -1/2 out^3 dx
  rsqrt: rule({ saves: ['output'], backward: (g, { output }) => [mul(g, mulScalar(mul(output, mul(output, output)), -0.5))] }),
  // d exp(x) = exp(x) dx
  exp: rule({ saves: ['output'], backward: (g, { output }) => [mul(g, output)] }),
  // d log(x) = dx / x
  log: rule({ saves: [0], backward: (g, { inputs: [x] }) => [div(g, x)] }),
  // d tanh(x) = (1 - tanh(x)^2) dx
  tanh: rule({ saves: ['output'], backward: (g, { output }) => [mul(g, rsubScalar(mul(output, output), 1))] }),
  // d cap tanh(x / cap) = (1 - tanh(x / cap)^2) dx = (1 - (out / cap)^2) dx: one kernel, softcapGrad
  softcap: rule<{ cap: number }>({ saves: ['output'], backward: (g, { output, attrs }) => [elementwise('softcapGrad', [output, g], attrs.cap)] }),
  // d gelu(x) = geluTanhGrad(x) dx, the derivative of the tanh form as one kernel formula
  // (kernels/elementwise.ts: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))
  geluTanh: rule({ saves: [0], backward: (g, { inputs: [x] }) => [mul(g, elementwise('geluTanhGrad', [x]))] }),
  // y = gelu(a) b: da = (g b) gelu'(a), db = g gelu(a), both in one kernel (kernels/gated-gelu.ts) with the
  // roundings of the geluTanh and mul rules above (so their bits); a and b have one shape (gated-gelu.ts)
  geluTanhMul: rule({
    saves: [0, 1],
    backward: (g, { inputs: [a, b] }) => {
      if (a.size === 0) return [a.requiresGrad ? Tensor.fromData(new Float32Array(0), a.shape) : null, b.requiresGrad ? Tensor.fromData(new Float32Array(0), b.shape) : null];
      const { da, db } = runGeluTanhMulBackward(g.contiguousData(), a.contiguousData(), b.contiguousData());
      return [a.requiresGrad ? Tensor.fromData(da, a.shape) : null, b.requiresGrad ? Tensor.fromData(db, b.shape) : null];
    },
  }),

  // ---- reductions (reduce.ts)

  // d sum(x, axis) = g broadcast back over the axis
  sum: rule<AxisAttrs>({ saves: [], backward: (g, { inputs: [x], attrs: { axis, keepDim } }) => [expandBack(g, x.shape, axis, keepDim)] }),
  // d max(x, axis) = g at the first maximum along the axis (the element argmax picks, as PyTorch's max(dim)), 0 elsewhere
  max: rule<AxisAttrs>({
    saves: [0],
    backward: (g, { inputs: [x], attrs: { axis, keepDim } }) => {
      const winner = argmax(x, axis, true);
      const isWinner = elementwise('equalTo', [axisPositions(x.shape, axis), winner]);
      return [mul(isWinner, expandBack(g, x.shape, axis, keepDim))];
    },
  }),
  // d lse(x) = softmax(x) g = exp((x - m) - log(sum(exp(x - m)))) g; not exp(x - lse),
  // whose float32 rounding of lse costs |lse| * 2^-24 relative (6e-5 at |x| = 1000)
  logSumExp: rule<AxisAttrs>({
    saves: [0],
    backward: (g, { inputs: [x], attrs: { axis, keepDim } }) => [mul(elementwise('expSub', shiftedLogSumExp(x, axis)), expandBack(g, x.shape, axis, keepDim))],
  }),

  // ---- softmax (softmax.ts)

  // d softmax: dx = y (g - sum(g y, axis)); along the last axis one fused kernel
  softmax: rule<{ axis: number }>({
    saves: ['output'],
    backward: (g, { inputs: [x], output: y, attrs: { axis } }) => {
      const rows = softmaxRows(x.shape, axis);
      if (rows !== null) return [Tensor.fromData(runSoftmaxBackwardRows(y.contiguousData(), g.contiguousData(), rows[0], rows[1]), x.shape)];
      return [mul(y, sub(g, sum(mul(g, y), axis, true)))];
    },
  }),
  // d log_softmax: dx = g - softmax(x) sum(g, axis) = g - exp(y) sum(g, axis)
  logSoftmax: rule<{ axis: number }>({
    saves: ['output'],
    backward: (g, { output: y, attrs: { axis } }) => [sub(g, mul(exp(y), sum(g, axis, true)))],
  }),

  // ---- products (matmul.ts): the NT and TN kernels, nothing transposed in memory

  // C = A B: dA = dC B^T (NT), dB = A^T dC (TN), each summed over broadcast batch axes
  matmul: rule({
    saves: [0, 1],
    backward: (g, { inputs: [a, b] }) => {
      const [M, K] = a.shape.slice(-2);
      const N = b.shape[b.rank - 1];
      return [
        a.requiresGrad ? sumToShape(batchedProduct('NT', g, b, M, N, K), a.shape) : null,
        b.requiresGrad ? sumToShape(batchedProduct('TN', a, g, K, M, N), b.shape) : null,
      ];
    },
  }),
  // y = x W^T (x [rows, in], W [out, in]): dx = dy W (NN), dW = dy^T x (TN)
  linear: rule({
    saves: [0, 1],
    backward: (g, { inputs: [x, weight] }) => {
      const rows = x.shape[0];
      const [outFeatures, inFeatures] = weight.shape;
      return [
        x.requiresGrad ? batchedProduct('NN', g, weight, rows, outFeatures, inFeatures) : null,
        weight.requiresGrad ? batchedProduct('TN', g, x, outFeatures, rows, inFeatures) : null,
      ];
    },
  }),

  // y = c tanh(z / c), z = x W^T (linear-softcap.ts): dz = g (1 - (y / c)^2) from the output alone
  // (softcapGrad, as softcap's rule), then linear's dx = dz W (NN), dW = dz^T x (TN)
  linearSoftcap: rule<{ cap: number }>({
    saves: [0, 1, 'output'],
    backward: (g, { inputs: [x, weight], output, attrs: { cap } }) => {
      const dz = elementwise('softcapGrad', [output, g], cap);
      const rows = x.shape[0];
      const [outFeatures, inFeatures] = weight.shape;
      return [
        x.requiresGrad ? batchedProduct('NN', dz, weight, rows, outFeatures, inFeatures) : null,
        weight.requiresGrad ? batchedProduct('TN', dz, x, outFeatures, rows, inFeatures) : null,
      ];
    },
  }),
  // o = p v, p = softmax(m), m = c tanh(s / c) + M, s = q k^T scaling (attention.ts), per (batch, kv head):
  //   dv = p^T g (TN);  dp = g v^T (NT);  dm = p (dp - sum(dp p)) (softmax's rule);  M takes none;
  //   ds = dm (1 - (c tanh(s / c) / c)^2) scaling, the capped scores recomputed (q k^T, mulScalar,
  //   softcap: the forward's bits) rather than kept;  dq = ds k (NN);  dk = ds^T q (TN).
  // dm to ds is one row kernel (kernels/attention.ts) with the float32 steps of the composed rules, so their bits.
  attention: rule<{ pattern: Float32Array; scaling: number; softcap: number | null }>({
    saves: [0, 1, 2],
    backward: (g, { inputs: [q, keys, values], attrs: { pattern, scaling, softcap } }) => {
      const [B, kv, rows, hd] = q.shape;
      const S = keys.shape[2];
      const zeros = (t: Tensor) => (t.requiresGrad ? Tensor.fromData(new Float32Array(t.size), t.shape) : null);
      if (B * kv * rows * hd === 0 || S === 0) return [zeros(q), zeros(keys), zeros(values), null];
      const dims = (M: number, K: number, N: number) => ({ batch: B * kv, M, K, N, aBatched: 1 as const, bBatched: 1 as const });
      const [gData, qData, kData, vData] = [g, q, keys, values].map((t) => t.contiguousData());
      const dv = values.requiresGrad ? Tensor.fromData(runMatmul('TN', pattern, gData, dims(S, rows, hd)), values.shape) : null;
      const capped = softcap === null ? null : runElementwiseFlat('softcap', [runElementwiseFlat('mulScalar', [runMatmul('NT', qData, kData, dims(rows, hd, S))], scaling)], softcap);
      const ds = runAttentionBackwardRows(pattern, runMatmul('NT', gData, vData, dims(rows, hd, S)), capped, B * kv * rows, S, scaling, softcap);
      return [
        q.requiresGrad ? Tensor.fromData(runMatmul('NN', ds, kData, dims(rows, S, hd)), q.shape) : null,
        keys.requiresGrad ? Tensor.fromData(runMatmul('TN', ds, qData, dims(S, rows, hd)), keys.shape) : null,
        dv,
        null,
      ];
    },
  }),

  // ---- selection (embedding.ts, concat.ts, where.ts)

  // out[t] = W[ids[t]]: dW[v] = sum of g[t] over the t with ids[t] = v (none for the padding row); ids take none
  embedding: rule<{ idData: TypedData; padRow: number | null }>({
    saves: [0],
    backward: (g, { inputs: [, weight], attrs: { idData, padRow } }) => {
      const [vocab, hidden] = weight.shape;
      const grad = new Float32Array(vocab * hidden);
      if (idData.length > 0 && hidden > 0) {
        const { rows, distinctIds } = runEmbeddingScatter(g.contiguousData(), hidden, idData, padRow);
        distinctIds.forEach((id, u) => grad.set(rows.subarray(u * hidden, (u + 1) * hidden), id * hidden));
      }
      return [null, Tensor.fromData(grad, [vocab, hidden])];
    },
  }),
  // each input gets its own slice of g along the axis
  concat: rule<{ axis: number }>({
    saves: [],
    backward: (g, { inputs, attrs: { axis } }) => {
      let start = 0;
      return inputs.map((t) => {
        const part = narrow(g, axis, start, t.shape[axis]);
        start += t.shape[axis];
        return t.requiresGrad ? part : null;
      });
    },
  }),
  // where(c, a, b): g flows to a where c holds and to b elsewhere; c takes none
  where: rule({
    saves: [0],
    backward: (g, { inputs: [condition, a, b] }) => [
      null,
      a.requiresGrad ? sumToShape(elementwise('selectIf', [condition, g]), a.shape) : null,
      b.requiresGrad ? sumToShape(elementwise('selectUnless', [condition, g]), b.shape) : null,
    ],
  }),
  // maskedFill(x, mask, v): g flows to x where the mask is zero; the mask takes none
  maskedFill: rule({
    saves: [1],
    backward: (g, { inputs: [x, mask] }) => [sumToShape(elementwise('selectUnless', [mask, g]), x.shape), null],
  }),

  // ---- fused ops (cross-entropy.ts, rms-norm.ts, rope.ts; geluTanhMul is with geluTanh above)

  // loss_i = lse_i - x[i, t_i]: dx[i] = (softmax(x[i]) - onehot(t_i)) g_i, one kernel; g_i is g ('sum'),
  // g / counted ('mean') or the row's own g ('none'); ignored rows get nothing; targets take none.
  // logitData and lse are the forward's rows (logitData may be the logits' storage: saved as input 0)
  crossEntropy: rule<{ logitData: TypedData; lse: TypedData; ignoreIndex: number; reduction: Reduction; counted: number }>({
    saves: [0, 1],
    backward: (g, { inputs: [logits, targets], attrs: { logitData, lse, ignoreIndex, reduction, counted } }) => {
      const rows = targets.size;
      const classes = logits.shape[logits.rank - 1];
      const rowGrad = reduction === 'none' ? g.contiguousData() : new Float32Array(rows).fill(Math.fround(reduction === 'sum' ? g.item() : g.item() / counted));
      const data = rows * classes === 0 ? new Float32Array(0) : runCrossEntropyGrad(logitData, rows, classes, targets.contiguousData(), lse, rowGrad, ignoreIndex);
      return [Tensor.fromData(data, logits.shape), null];
    },
  }),
  // y = x r (1 + w), r = 1/sqrt(mean(x^2) + eps); with u = g (1 + w):
  //   dx = r u - x r^3 mean(u x)        dw = sum over rows of g x r
  // one kernel (kernels/rms-norm.ts) for both, from the forward's r (invRms, one per row)
  rmsNorm: rule<{ invRms: Float32Array; rows: number; hidden: number }>({
    saves: [0, 1],
    backward: (g, { inputs: [x, weight], attrs: { invRms, rows, hidden } }) => {
      if (rows * hidden === 0) {
        return [x.requiresGrad ? Tensor.fromData(new Float32Array(0), x.shape) : null, weight.requiresGrad ? Tensor.fromData(new Float32Array(hidden), weight.shape) : null];
      }
      const { dx, dw } = runRmsNormBackward(g.contiguousData(), x.contiguousData(), weight.contiguousData(), invRms, rows, hidden, weight.requiresGrad);
      return [x.requiresGrad ? Tensor.fromData(dx, x.shape) : null, weight.requiresGrad ? Tensor.fromData(dw, weight.shape) : null];
    },
  }),
  // y = x cos + rotate_half(x) sin is a rotation of each (x_d, x_{d+D/2}) pair: dx = the inverse rotation of g,
  // one kernel (kernels/rope.ts); cos and sin take none. cosData and sinData are the tables' storage (saved as inputs 1, 2)
  rope: rule<{ cosData: TypedData; sinData: TypedData; dims: RopeDims }>({
    saves: [1, 2],
    backward: (g, { inputs: [x], attrs: { cosData, sinData, dims } }) => [
      Tensor.fromData(runRope('backward', g.contiguousData(), cosData, sinData, dims), x.shape),
      null,
      null,
    ],
  }),

  // ---- views (views.ts): gradients move back to the input's layout

  // contiguous copies: dx = g
  contiguous: rule({ saves: [], backward: (g) => [g] }),
  // dx = g in the input's shape
  reshape: rule({ saves: [], backward: (g, { inputs: [x] }) => [reshape(g, x.shape)] }),
  // dx = g permuted back
  permute: rule<{ inverse: number[] }>({ saves: [], backward: (g, { attrs }) => [permute(g, attrs.inverse)] }),
  // dx = g where the slice read, zeros elsewhere
  slice: rule<{ axis: number; begin: number; stop: number; step: number }>({
    saves: [],
    backward: (g, { inputs: [x], attrs: { axis, begin, stop, step } }) => {
      const grad = Tensor.fromData(new Float32Array(numel(x.shape)), x.shape);
      writeStrided(slice(grad, axis, begin, stop, step).nd, g.contiguousData());
      return [grad];
    },
  }),
  // an expanded axis read one element many times: dx = g summed over the expanded axes
  expand: rule({ saves: [], backward: (g, { inputs: [x] }) => [sumToShape(g, x.shape)] }),
};

/** Every op with a rule. */
export type GradientOp = keyof typeof GRADIENTS;

// Gradients that reach one tensor by several paths are summed with the add kernel.
installGradientTable(GRADIENTS, add);
