// Embedding lookup: out[..., h] = weight[ids[...], h].

import type { RefTensor } from './tensor.ts';

export function embedding(ids: number[], idsShape: number[], weight: RefTensor): RefTensor {
  const hidden = weight.shape[1];
  const data = new Float64Array(ids.length * hidden);
  ids.forEach((id, t) => {
    for (let h = 0; h < hidden; h++) data[t * hidden + h] = weight.data[id * hidden + h];
  });
  return { shape: [...idsShape, hidden], data };
}
