// Matrix products. matmul follows NumPy: the last two axes multiply, leading
// batch axes broadcast, and a 1-D operand is a row (left) or a column (right).

import { type RefTensor, broadcastShape, size, unravel } from './tensor.ts';

export function matmul(a: RefTensor, b: RefTensor): RefTensor {
  if (a.shape.length === 1) {
    const out = matmul({ shape: [1, a.shape[0]], data: a.data }, b);
    out.shape.splice(out.shape.length - 2, 1);
    return out;
  }
  if (b.shape.length === 1) {
    const out = matmul(a, { shape: [b.shape[0], 1], data: b.data });
    out.shape.pop();
    return out;
  }
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = b.shape.slice(-2);
  if (K !== K2) throw new Error(`matmul: [${a.shape}] @ [${b.shape}]`);
  const batchShape = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batches = size(batchShape);
  const data = new Float64Array(batches * M * N);
  // The flat batch offset of an operand whose batch shape broadcasts to batchShape.
  const batchOffset = (shape: number[], batchIndex: number[]): number => {
    const own = shape.slice(0, -2);
    let flat = 0;
    own.forEach((d, i) => (flat = flat * d + (d === 1 ? 0 : batchIndex[batchIndex.length - own.length + i])));
    return flat;
  };
  for (let z = 0; z < batches; z++) {
    const index = unravel(z, batchShape);
    const aBase = batchOffset(a.shape, index) * M * K;
    const bBase = batchOffset(b.shape, index) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let total = 0;
        for (let k = 0; k < K; k++) total += a.data[aBase + m * K + k] * b.data[bBase + k * N + n];
        data[(z * M + m) * N + n] = total;
      }
    }
  }
  return { shape: [...batchShape, M, N], data };
}

/** y = x W^T + b, with x [..., in], W [out, in], b [out]. */
export function linear(x: RefTensor, weight: RefTensor, bias?: RefTensor): RefTensor {
  const [outFeatures, inFeatures] = weight.shape;
  const rows = x.data.length / inFeatures;
  const data = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let total = bias ? bias.data[o] : 0;
      for (let i = 0; i < inFeatures; i++) total += x.data[r * inFeatures + i] * weight.data[o * inFeatures + i];
      data[r * outFeatures + o] = total;
    }
  }
  return { shape: [...x.shape.slice(0, -1), outFeatures], data };
}
