// Batched matrix products C[b] = A[b] B[b] in the three layouts a forward and
// backward pass need, so no operand is ever transposed in memory:
//   NN: C = A B      A stored [M, K], B stored [K, N]   (forward)
//   NT: C = A B^T    B stored [N, K]                    (x W^T; dA = dC B^T)
//   TN: C = A^T B    A stored [K, M]                    (dB = A^T dC)
// Output box [N, M, batch]: thread (x, y, z) computes C[z][y][x], summing its
// K products in the cascade order of sum-order.ts. An operand with one matrix
// for the whole batch reads batch 0 (its `batched` flag is 0).
//
// B may be a bfloat16 weight (a Uint16Array of bf16 bits, kept as its
// checkpoint stores it: lib/tensor/dtype.ts). The CPU path widens it as it
// reads (gemv and the packing kernels, wasm/gemm.ts); the GPU.js kernels
// widen it to a float32 array at launch (correct, and a pass over B more on a
// path that copies every operand into its memory per launch anyway). Widening
// is exact, so either way C is the product of the widened weight, bit for bit.

import { type TypedData, widenBfloat16 } from '../lib/tensor/dtype.ts';
import { type Box, boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';
import { simdMatmul } from './wasm/gemm.ts';
import { runElementwiseFlat } from './elementwise.ts';
import type { MatmulDims, MatmulLayout } from './wasm/gemm-plan.ts';

export type { MatmulDims, MatmulLayout } from './wasm/gemm-plan.ts';
import { cascadeKernel } from './sum-order.ts';

// thread (x, y, z): C[z][y][x] = sum over i < K of A[z][y][i] B[z][i][x] (in the layout's storage)
const batchEntries = 'const za = this.thread.z * this.constants.aBatched; const zb = this.thread.z * this.constants.bBatched;';
const matmulKernel = (term: string) => cascadeKernel({ params: 'A, B', setup: batchEntries, length: 'this.constants.K', term });

export const MATMUL_LAYOUTS: Record<MatmulLayout, string> = {
  NN: matmulKernel('A[za][this.thread.y][i] * B[zb][i][this.thread.x]'), // A [M, K], B [K, N]
  NT: matmulKernel('A[za][this.thread.y][i] * B[zb][this.thread.x][i]'), // B stored [N, K]
  TN: matmulKernel('A[za][i][this.thread.y] * B[zb][i][this.thread.x]'), // A stored [K, M]
};

/** The GPU.js kernels above, on the current backend. */
function gpujsMatmul(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims): Float32Array {
  const { batch, M, K, N, aBatched, bBatched } = dims;
  const aBatches = aBatched ? batch : 1;
  const bBatches = bBatched ? batch : 1;
  const aBox: Box = layout === 'TN' ? [M, K, aBatches] : [K, M, aBatches];
  const bBox: Box = layout === 'NT' ? [K, N, bBatches] : [N, K, bBatches];
  return launch({
    name: `matmul.${layout}`,
    source: MATMUL_LAYOUTS[layout],
    output: [N, M, batch],
    args: [boxed(a, aBox), boxed(b instanceof Uint16Array ? widenBfloat16(b) : b, bBox)],
    constants: { K, aBatched, bBatched },
  });
}

// On the CPU path: the SIMD microkernels of wasm/gemm.ts, the same float32 sums in the same cascade order, 30-50x faster.
const KERNELS = Object.fromEntries(
  (Object.keys(MATMUL_LAYOUTS) as MatmulLayout[]).map((layout) => [
    layout,
    defineKernel({
      name: `matmul.${layout}`,
      gpujs: (a: TypedData, b: TypedData, dims: MatmulDims) => gpujsMatmul(layout, a, b, dims),
      cpu: { kind: 'wasm-simd', run: (a: TypedData, b: TypedData, dims: MatmulDims) => simdMatmul(layout, a, b, dims) },
      agreement: 'same-bits',
      readsBfloat16: 1, // B, the weight
    }),
  ]),
) as Record<MatmulLayout, (a: TypedData, b: TypedData, dims: MatmulDims) => Float32Array>;

/** C [batch, M, N] row-major, on the current compute path. K must be at least 1. `b` may hold bfloat16 bits (a Uint16Array). */
export function runMatmul(layout: MatmulLayout, a: TypedData, b: TypedData, dims: MatmulDims): Float32Array {
  return KERNELS[layout](a, b, dims);
}

// The softcapped LM head, logits = cap tanh((x W^T) / cap), as the NT product with an epilogue: on
// the CPU path the softcap map kernel runs on C in wasm scratch before C is copied out (wasm/gemm.ts),
// so the uncapped logits never become an array of their own; with GPU.js, the NT kernel then the
// softcap formula. Either way the bits of matmul.NT followed by elementwise.softcap on that path.
const linearSoftcapForward = defineKernel({
  name: 'linearSoftcap.forward',
  gpujs: (a: TypedData, b: TypedData, dims: MatmulDims, cap: number) => runElementwiseFlat('softcap', [gpujsMatmul('NT', a, b, dims)], cap),
  cpu: { kind: 'wasm-simd', run: (a: TypedData, b: TypedData, dims: MatmulDims, cap: number) => simdMatmul('NT', a, b, dims, { softcap: cap }) },
  agreement: { tolerance: 'transcendental', why: 'the SIMD softcap computes tanh as a polynomial (about 1-2 ulp), GPU.js calls Math.tanh' },
  readsBfloat16: 1, // B, the head's weight
});

/** cap tanh((A B^T) / cap) [batch, M, N] (the NT layout), on the current compute path. K must be at least 1. */
export function runLinearSoftcap(a: TypedData, b: TypedData, dims: MatmulDims, cap: number): Float32Array {
  return linearSoftcapForward(a, b, dims, cap);
}
