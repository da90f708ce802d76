// Rotary position embedding, rotate-half form (Gemma, Llama; not interleaved
// pairs). With half = D/2 and rotate_half([x1, x2]) = [-x2, x1]:
//   forward:  y = x cos + rotate_half(x) sin
//   backward: dx = g cos + rotate_half^T(g sin),  rotate_half^T([u1, u2]) = [u2, -u1]
// x is [B*heads, T, D] (box [D, T, B*heads]); cos and sin are [Bc, T, D] with
// Bc = B (per-sequence positions) or 1 (shared), read at batch z / heads.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch } from './launch.ts';

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
