// The gradient of Gemma2's gated MLP activation y = gelu_tanh(a) b (a the gate
// projection, b the up projection), both halves in one pass over g, a, b:
//   da = (g b) gelu'(a)        db = g gelu(a)
// from one tanh per element. Its forward is the element-wise formula
// 'geluTanhMul' (elementwise.ts); the GELU pieces are elementwise.ts's
// GELU_TANH, so the three kernels say GELU the same way.
//
//   gpujs  one kernel with output box [n, 2]: row 0 is da, row 1 db (each
//          thread takes its own tanh), in chunks of at most 2^24 elements
//   cpu    one SIMD pass (wasm/vector-math.ts, geluTanhMulGrad) writing both
//
// Both round where the rules of geluTanh and mul they replace round (g b, the
// derivative, the GELU: Math.fround in the GPU.js source, a no-op on webasm),
// so da and db have the bits of mul(mul(g, b), geluTanhGrad(a)) and
// mul(g, geluTanh(a)) on each path; the two paths differ by the SIMD tanh
// polynomial.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { MAX_KERNEL_AXIS, boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';
import { GELU_TANH } from './elementwise.ts';
import { simdGeluTanhMulGrad } from './wasm/vector-math.ts';

const SOURCE = `function(G, A, B) {
  const g = G[0][0][this.thread.x];
  const a = A[0][0][this.thread.x];
  const b = B[0][0][this.thread.x];
  ${GELU_TANH.t}
  if (this.thread.y === 0) {
    return Math.fround(g * b) * Math.fround(${GELU_TANH.derivative});
  }
  return g * Math.fround(${GELU_TANH.value});
}`;

/** [da, db] for same-length g, a, b. */
function gpujsGeluTanhMulGrad(g: TypedData, a: TypedData, b: TypedData): [Float32Array, Float32Array] {
  const n = g.length;
  const da = new Float32Array(n);
  const db = new Float32Array(n);
  for (let start = 0; start < n; start += MAX_KERNEL_AXIS) {
    const length = Math.min(MAX_KERNEL_AXIS, n - start);
    const [gs, as, bs] = [g, a, b].map((data) => boxed(data.subarray(start, start + length) as TypedData, [length, 1, 1]));
    const both = launch({ name: 'geluTanhMul.backward', source: SOURCE, output: [length, 2, 1], args: [gs, as, bs] });
    da.set(both.subarray(0, length), start);
    db.set(both.subarray(length, 2 * length), start);
  }
  return [da, db];
}

const backward = defineKernel({
  name: 'geluTanhMul.backward',
  gpujs: (g: TypedData, a: TypedData, b: TypedData) => {
    const [da, db] = gpujsGeluTanhMulGrad(g, a, b);
    return { da, db };
  },
  cpu: {
    kind: 'wasm-simd',
    run: (g: TypedData, a: TypedData, b: TypedData) => {
      const [da, db] = simdGeluTanhMulGrad(g, a, b);
      return { da, db };
    },
  },
  agreement: { tolerance: 'transcendental', why: 'the SIMD kernel computes tanh as a polynomial (about 1-2 ulp)' },
});

/** The gradients of gelu_tanh(a) b for the incoming g, all three contiguous and of one length. */
export function runGeluTanhMulBackward(g: TypedData, a: TypedData, b: TypedData): { da: Float32Array; db: Float32Array } {
  return backward(g, a, b);
}
