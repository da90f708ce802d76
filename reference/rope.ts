// Rotary position embedding, rotate-half form:
//   y = x cos + rotate_half(x) sin,  rotate_half([x1, x2]) = [-x2, x1]
// x [B, heads, T, D]; cos and sin [B or 1, T, D].

import type { RefTensor } from './tensor.ts';

export function rope(x: RefTensor, cos: RefTensor, sin: RefTensor): RefTensor {
  const [B, heads, T, D] = x.shape;
  const half = D / 2;
  const data = new Float64Array(x.data.length);
  for (let b = 0; b < B; b++) {
    const table = cos.shape[0] === 1 ? 0 : b;
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * heads + h) * T + t) * D;
        const tableRow = (table * T + t) * D;
        for (let d = 0; d < D; d++) {
          const rotated = d < half ? -x.data[row + d + half] : x.data[row + d - half];
          data[row + d] = x.data[row + d] * cos.data[tableRow + d] + rotated * sin.data[tableRow + d];
        }
      }
    }
  }
  return { shape: x.shape.slice(), data };
}

/** cos and sin tables [T, D] for positions, theta^(-2j/D) frequencies (GEMMA2.md). */
export function ropeTables(positions: number[], D: number, theta: number): { cos: number[][]; sin: number[][] } {
  const half = D / 2;
  const cos = positions.map((p) => Array.from({ length: D }, (_, d) => Math.cos(p * theta ** (-(2 * (d % half)) / D))));
  const sin = positions.map((p) => Array.from({ length: D }, (_, d) => Math.sin(p * theta ** (-(2 * (d % half)) / D))));
  return { cos, sin };
}
