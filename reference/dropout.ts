// Dropout with given uniform draws u (one per element, in [0, 1)): an element
// is zeroed where u < p, and the survivors are scaled by 1 / (1 - p).

import type { RefTensor } from './tensor.ts';

export function dropout(x: RefTensor, p: number, draws: ArrayLike<number>): RefTensor {
  if (draws.length !== x.data.length) throw new Error(`dropout: ${draws.length} draws for ${x.data.length} elements`);
  return { shape: x.shape.slice(), data: x.data.map((v, i) => (draws[i] < p ? 0 : v / (1 - p))) };
}
