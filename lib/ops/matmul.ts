// matmul (NumPy/PyTorch semantics: 1-D operands are promoted and the added
// axis removed; leading batch axes broadcast) and linear (y = x W^T + b, the
// layout of every Hugging Face Linear weight: [out_features, in_features]).
// Their gradients (gradients.ts) run the NT and TN kernels directly: nothing
// is transposed in memory.

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, broadcastShapes, formatShape, numel, sameShape } from '../tensor/shape.ts';
import { record } from './record.ts';
import { type MatmulLayout, runMatmul } from '../../kernels/matmul.ts';
import { expectFloat, expectRank, expectWeight } from './check.ts';
import { add } from './arithmetic.ts';
import { expand, reshape, squeeze, unsqueeze } from './views.ts';

/**
 * One kernel launch over batched matrices. `a` is [...aBatch, rowsA, colsA]
 * and `b` [...bBatch, rowsB, colsB] as stored; `layout` says which are
 * transposed. Batch axes broadcast; an operand whose batch is neither full nor
 * a single matrix is expanded in memory first.
 */
export function batchedProduct(layout: MatmulLayout, a: Tensor, b: Tensor, M: number, K: number, N: number): Tensor {
  const aBatchShape = a.shape.slice(0, -2);
  const bBatchShape = b.shape.slice(0, -2);
  const batchShape = broadcastShapes('matmul', aBatchShape, bBatchShape);
  const batch = numel(batchShape);
  const outShape = [...batchShape, M, N];
  if (batch * M * N === 0) return Tensor.fromData(new Float32Array(0), outShape);
  if (K === 0) return Tensor.fromData(new Float32Array(batch * M * N), outShape);
  const operand = (t: Tensor, own: number[]): { data: Tensor; batched: 0 | 1 } => {
    if (numel(own) === 1) return { data: t, batched: 0 };
    if (numel(own) === batch && sameShape([...new Array(batchShape.length - own.length).fill(1), ...own], batchShape)) {
      return { data: t, batched: 1 };
    }
    return { data: expand(t.detach(), [...batchShape, ...t.shape.slice(-2)]), batched: 1 };
  };
  const A = operand(a, aBatchShape);
  const B = operand(b, bBatchShape);
  const data = runMatmul(layout, A.data.contiguousData(), B.data.contiguousData(), {
    batch,
    M,
    K,
    N,
    aBatched: A.batched,
    bBatched: B.batched,
  });
  return Tensor.fromData(data, outShape);
}

/** The same storage with its last two axes swapped: a plain view, off the tape (the product records the matmul itself). */
function transposeLastTwo(t: Tensor): Tensor {
  const shape = [...t.shape];
  const stride = [...t.nd.stride];
  const [i, j] = [t.rank - 2, t.rank - 1];
  [shape[i], shape[j]] = [shape[j], shape[i]];
  [stride[i], stride[j]] = [stride[j], stride[i]];
  return t.viewAs(shape, stride, t.nd.offset);
}

/** a @ b. `b` may be a bfloat16 weight (kept as stored: the kernels widen it as they read); `a` is float32. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  expectFloat('matmul', a);
  expectWeight('matmul', 'the second operand', b);
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(`matmul: operands must have at least one axis, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  // Checked on the shapes as given, so the message names what the caller passed.
  const K = a.shape[a.rank - 1];
  const K2 = b.shape[b.rank === 1 ? 0 : b.rank - 2];
  if (K !== K2) {
    throw new ShapeError(`matmul: inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)} (${K} != ${K2})`);
  }
  // 1-D operands: a vector on the left is a row, on the right a column; the
  // added axes are removed from the result ([..., M, N] loses N, then M).
  if (a.rank === 1 || b.rank === 1) {
    let out = matmul(a.rank === 1 ? unsqueeze(a, 0) : a, b.rank === 1 ? unsqueeze(b, 1) : b);
    if (b.rank === 1) out = squeeze(out, -1);
    if (a.rank === 1) out = squeeze(out, b.rank === 1 ? -1 : -2);
    return out;
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  try {
    broadcastShapes('matmul', aBatch, bBatch);
  } catch {
    throw new ShapeError(
      `matmul: batch dimensions of ${formatShape(a.shape)} and ${formatShape(b.shape)} cannot be broadcast together (${formatShape(aBatch)} vs ${formatShape(bBatch)})`,
    );
  }
  const M = a.shape[a.rank - 2];
  const N = b.shape[b.rank - 1];
  // b given as the transposed view of stored rows (keys.transpose(-1, -2)): the NT kernel reads them where they are
  const bRows = transposeLastTwo(b);
  if (!b.isContiguous() && bRows.isContiguous()) return record(batchedProduct('NT', a, bRows, M, K, N), 'matmul', [a, b]);
  return record(batchedProduct('NN', a, b, M, K, N), 'matmul', [a, b]);
}

/** y = x W^T (+ bias): x [..., in], weight [out, in] (float32, or bfloat16 kept as stored), bias [out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  expectFloat('linear', x, ...(bias === undefined ? [] : [bias]));
  expectWeight('linear', 'weight', weight);
  expectRank('linear', 'weight', weight, 2);
  if (x.rank === 0) throw new ShapeError(`linear: input must have at least one axis, got shape ${formatShape(x.shape)}`);
  const [outFeatures, inFeatures] = weight.shape;
  const features = x.shape[x.rank - 1];
  if (features !== inFeatures) {
    throw new ShapeError(`linear: input ${formatShape(x.shape)} has ${features} features but weight ${formatShape(weight.shape)} expects ${inFeatures}`);
  }
  if (bias !== undefined && !sameShape(bias.shape, [outFeatures])) {
    throw new ShapeError(`linear: bias shape ${formatShape(bias.shape)} does not match weight ${formatShape(weight.shape)} (expected [${outFeatures}])`);
  }
  const rows = numel(x.shape.slice(0, -1));
  const outShape = [...x.shape.slice(0, -1), outFeatures];
  const x2 = reshape(x, [rows, inFeatures]);
  const y = reshape(record(batchedProduct('NT', x2, weight, rows, inFeatures, outFeatures), 'linear', [x2, weight]), outShape);
  return bias === undefined ? y : add(y, bias);
}
