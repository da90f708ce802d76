// Rotary position embedding, rotate-half form (Gemma, Llama; not interleaved
// pairs). With half = D/2 and rotate_half([x1, x2]) = [-x2, x1]:
//   forward:  y = x cos + rotate_half(x) sin
//   backward: dx = g cos + rotate_half^T(g sin),  rotate_half^T([u1, u2]) = [u2, -u1]
// x is [B*heads, T, D] (box [D, T, B*heads]); cos and sin are [Bc, T, D] with
// Bc = B (per-sequence positions) or 1 (shared), read at batch z / heads.
// On the CPU path (kernels/simd.ts) the same float32 steps run as a host loop.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch, recordLaunch } from './launch.ts';
import { useSimdKernels } from './simd.ts';

function ropeForward(this: any, X: number[][][], C: number[][][], S: number[][][]): number {
  const d = this.thread.x;
  const t = this.thread.y;
  const z = this.thread.z;
  const zc = Math.floor(z / this.constants.heads) * this.constants.perSequence;
  let rotated = 0;
  if (d < this.constants.half) {
    rotated = -X[z][t][d + this.constants.half];
  } else {
    rotated = X[z][t][d - this.constants.half];
  }
  return X[z][t][d] * C[zc][t][d] + rotated * S[zc][t][d];
}

function ropeBackward(this: any, G: number[][][], C: number[][][], S: number[][][]): number {
  const d = this.thread.x;
  const t = this.thread.y;
  const z = this.thread.z;
  const zc = Math.floor(z / this.constants.heads) * this.constants.perSequence;
  let rotated = 0;
  if (d < this.constants.half) {
    rotated = G[z][t][d + this.constants.half] * S[zc][t][d + this.constants.half];
  } else {
    rotated = -G[z][t][d - this.constants.half] * S[zc][t][d - this.constants.half];
  }
  return G[z][t][d] * C[zc][t][d] + rotated;
}

export interface RopeDims {
  /** batch * heads matrices of [T, D] */
  matrices: number;
  heads: number;
  T: number;
  D: number;
  /** true when cos/sin hold one table per sequence, false for one shared table */
  perSequence: boolean;
}

export function runRope(direction: 'forward' | 'backward', x: TypedData, cos: TypedData, sin: TypedData, dims: RopeDims): Float32Array {
  if (useSimdKernels()) return hostRope(direction, x, cos, sin, dims);
  const { matrices, heads, T, D, perSequence } = dims;
  const tables = perSequence ? matrices / heads : 1;
  return launch({
    name: `rope.${direction}`,
    source: direction === 'forward' ? ropeForward : ropeBackward,
    output: [D, T, matrices],
    args: [boxed(x, [D, T, matrices]), boxed(cos, [D, T, tables]), boxed(sin, [D, T, tables])],
    constants: { half: D / 2, heads, perSequence: perSequence ? 1 : 0 },
  });
}

/** The kernels' float32 steps, each rounded (Math.fround): the webasm kernels' bits. */
function hostRope(direction: 'forward' | 'backward', x: TypedData, cos: TypedData, sin: TypedData, dims: RopeDims): Float32Array {
  const started = performance.now();
  const f = Math.fround;
  const { matrices, heads, T, D, perSequence } = dims;
  const half = D / 2;
  const out = new Float32Array(matrices * T * D);
  for (let z = 0; z < matrices; z++) {
    const table = perSequence ? Math.floor(z / heads) * T * D : 0;
    for (let t = 0; t < T; t++) {
      const row = (z * T + t) * D;
      const trig = table + t * D;
      if (direction === 'forward') {
        // x cos + rotate_half(x) sin, rotate_half([x1, x2]) = [-x2, x1]
        for (let d = 0; d < half; d++) out[row + d] = f(f(x[row + d] * cos[trig + d]) + f(-x[row + d + half] * sin[trig + d]));
        for (let d = half; d < D; d++) out[row + d] = f(f(x[row + d] * cos[trig + d]) + f(x[row + d - half] * sin[trig + d]));
      } else {
        // g cos + rotate_half^T(g sin), rotate_half^T([u1, u2]) = [u2, -u1]
        for (let d = 0; d < half; d++) out[row + d] = f(f(x[row + d] * cos[trig + d]) + f(x[row + d + half] * sin[trig + d + half]));
        for (let d = half; d < D; d++) out[row + d] = f(f(x[row + d] * cos[trig + d]) - f(x[row + d - half] * sin[trig + d - half]));
      }
    }
  }
  recordLaunch(`rope.${direction}`, 'host-loop', performance.now() - started);
  return out;
}
