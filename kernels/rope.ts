// Rotary position embedding, rotate-half form (Gemma, Llama; not interleaved
// pairs). With half = D/2 and rotate_half([x1, x2]) = [-x2, x1]:
//   forward:  y = x cos + rotate_half(x) sin
//   backward: dx = g cos + rotate_half^T(g sin),  rotate_half^T([u1, u2]) = [u2, -u1]
// x is [B*heads, T, D] (box [D, T, B*heads]); cos and sin are [Bc, T, D] with
// Bc = B (per-sequence positions) or 1 (shared), read at batch z / heads.
//
// Each direction is written once, per half of the head dimension d, with
// x(e), cos(e) and sin(e) reading position e of the row and f32 marks where
// float32 rounds (kernels/formula.ts); both compute paths are generated from it.

import { outputArray } from '../lib/tensor/arena.ts';
import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';
import { compileHostLoop, forGpuJs, forHost, substituteReads } from './formula.ts';

type Direction = 'forward' | 'backward';

/** The value at head dimension d, for d in the first half and in the second. (In the backward x(e) reads g.) */
export const ROPE_FORMULAS: Record<Direction, { firstHalf: string; secondHalf: string }> = {
  // x cos + rotate_half(x) sin
  forward: {
    firstHalf: 'f32(f32(x(d) * cos(d)) + f32(-x(d + half) * sin(d)))',
    secondHalf: 'f32(f32(x(d) * cos(d)) + f32(x(d - half) * sin(d)))',
  },
  // g cos + rotate_half^T(g sin)
  backward: {
    firstHalf: 'f32(f32(x(d) * cos(d)) + f32(x(d + half) * sin(d + half)))',
    secondHalf: 'f32(f32(x(d) * cos(d)) - f32(x(d - half) * sin(d - half)))',
  },
};

/** Reads for each path: x from the row, cos and sin from the position's table row. */
function withReads(formula: string, x: (e: string) => string, table: (name: 'cos' | 'sin', e: string) => string): string {
  return substituteReads(substituteReads(substituteReads(formula, 'x', x), 'cos', (e) => table('cos', e)), 'sin', (e) => table('sin', e));
}

function gpujsSource(direction: Direction): string {
  const f = ROPE_FORMULAS[direction];
  const read = (text: string) =>
    withReads(forGpuJs(text), (e) => `X[z][t][${e}]`, (name, e) => `${name === 'cos' ? 'C' : 'S'}[zc][t][${e}]`);
  return `function(X, C, S) {
  const d = this.thread.x;
  const t = this.thread.y;
  const z = this.thread.z;
  const half = this.constants.half;
  const zc = Math.floor(z / this.constants.heads) * this.constants.perSequence;
  if (d < half) {
    return ${read(f.firstHalf)};
  }
  return ${read(f.secondHalf)};
}`;
}

type HostRope = (x: TypedData, cos: TypedData, sin: TypedData, out: Float32Array, matrices: number, heads: number, T: number, D: number, perSequence: boolean) => void;

/** The host loop: per row, one loop over each half (no branch per element). */
function hostLoop(direction: Direction): HostRope {
  const f = ROPE_FORMULAS[direction];
  const read = (text: string) => withReads(forHost(text), (e) => `x[row + ${e}]`, (name, e) => `${name}[trig + ${e}]`);
  return compileHostLoop<HostRope>(
    ['x', 'cos', 'sin', 'out', 'matrices', 'heads', 'T', 'D', 'perSequence'],
    `const half = D / 2;
    for (let z = 0; z < matrices; z++) {
      const table = perSequence ? Math.floor(z / heads) * T * D : 0;
      for (let t = 0; t < T; t++) {
        const row = (z * T + t) * D;
        const trig = table + t * D;
        for (let d = 0; d < half; d++) out[row + d] = ${read(f.firstHalf)};
        for (let d = half; d < D; d++) out[row + d] = ${read(f.secondHalf)};
      }
    }`,
  );
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

function defineRope(direction: Direction) {
  const source = gpujsSource(direction);
  const loop = hostLoop(direction);
  return defineKernel({
    name: `rope.${direction}`,
    gpujs: (x: TypedData, cos: TypedData, sin: TypedData, dims: RopeDims) => {
      const { matrices, heads, T, D, perSequence } = dims;
      const tables = perSequence ? matrices / heads : 1;
      return launch({
        name: `rope.${direction}`,
        source,
        output: [D, T, matrices],
        args: [boxed(x, [D, T, matrices]), boxed(cos, [D, T, tables]), boxed(sin, [D, T, tables])],
        constants: { half: D / 2, heads, perSequence: perSequence ? 1 : 0 },
      });
    },
    cpu: {
      kind: 'host-loop',
      run: (x: TypedData, cos: TypedData, sin: TypedData, dims: RopeDims) => {
        const out = outputArray(dims.matrices * dims.T * dims.D); // the loop writes every element
        loop(x, cos, sin, out, dims.matrices, dims.heads, dims.T, dims.D, dims.perSequence);
        return out;
      },
    },
    agreement: 'same-bits',
  });
}

const KERNELS: Record<Direction, ReturnType<typeof defineRope>> = { forward: defineRope('forward'), backward: defineRope('backward') };

export function runRope(direction: Direction, x: TypedData, cos: TypedData, sin: TypedData, dims: RopeDims): Float32Array {
  return KERNELS[direction](x, cos, sin, dims);
}
