// Gemma's RMSNorm over the last axis: y = x / sqrt(mean(x^2) + eps) * (1 + w).

import type { RefTensor } from './tensor.ts';

export function rmsNorm(x: RefTensor, weight: RefTensor, eps: number): RefTensor {
  const hidden = weight.data.length;
  const data = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / hidden; r++) {
    let squares = 0;
    for (let h = 0; h < hidden; h++) squares += x.data[r * hidden + h] ** 2;
    const scale = 1 / Math.sqrt(squares / hidden + eps);
    for (let h = 0; h < hidden; h++) data[r * hidden + h] = x.data[r * hidden + h] * scale * (1 + weight.data[h]);
  }
  return { shape: x.shape.slice(), data };
}
