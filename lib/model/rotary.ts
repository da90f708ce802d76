// Rotary position embedding tables (GEMMA2.md, "Forward pass"):
//   inv_freq[j] = theta^(-2j / hd),  j < hd/2
//   angle(p)    = [p * inv_freq, p * inv_freq]   (the half repeated)
//   cos, sin    = cos(angle), sin(angle)
// Transformers computes these in float32 even when the model runs in another
// dtype, because in bfloat16 the positions lose precision
// (Gemma2RotaryEmbedding casts inv_freq and the positions with .float(),
// huggingface/transformers#29285), so each step here is rounded to float32 the
// same way. The tables are built on the host: hd/2 numbers per position,
// nothing to accelerate.

import { Tensor } from '../tensor/tensor.ts';

/** inv_freq as Transformers builds it: 1 / theta ** (arange(0, hd, 2) / hd), in float32, from an integer arange cast to float (huggingface/transformers#28685). */
export function inverseFrequencies(headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let j = 0; j < half; j++) {
    const exponent = Math.fround((2 * j) / headDim);
    out[j] = Math.fround(1 / Math.fround(Math.pow(theta, exponent)));
  }
  return out;
}

/**
 * cos and sin tables [B, T, hd] for per-row positions (positions[b][t]).
 * Rows may hold different positions (left-padded generation).
 */
export function rotaryTables(positions: ArrayLike<number>[], headDim: number, theta: number): { cos: Tensor; sin: Tensor } {
  const inverse = inverseFrequencies(headDim, theta);
  const half = headDim / 2;
  const B = positions.length;
  const T = B === 0 ? 0 : positions[0].length;
  const cos = new Float32Array(B * T * headDim);
  const sin = new Float32Array(B * T * headDim);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * headDim;
      for (let j = 0; j < half; j++) {
        const angle = Math.fround(positions[b][t] * inverse[j]);
        cos[row + j] = cos[row + j + half] = Math.cos(angle);
        sin[row + j] = sin[row + j + half] = Math.sin(angle);
      }
    }
  }
  return { cos: Tensor.fromData(cos, [B, T, headDim]), sin: Tensor.fromData(sin, [B, T, headDim]) };
}
