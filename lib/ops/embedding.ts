// Embedding lookup: ids (int32, any shape) -> rows of weight [V, H].
// The gradient of weight (gradients.ts) is the scatter-add of the output
// gradient into the looked-up rows; with paddingIdx set, lookups of that id add nothing (as
// torch.nn.Embedding(padding_idx=...) does; a negative paddingIdx counts from
// the end of the vocabulary, and one outside [-V, V) is an error).

import { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape } from '../tensor/shape.ts';
import { record } from './record.ts';
import { runEmbeddingGather } from '../../kernels/embedding.ts';
import { expectInt, expectRank, expectWeight } from './check.ts';

export function embedding(ids: Tensor, weight: Tensor, paddingIdx?: number): Tensor {
  expectInt('embedding', 'ids', ids);
  expectWeight('embedding', 'weight', weight);
  expectRank('embedding', 'weight', weight, 2);
  const [vocab, hidden] = weight.shape;
  if (paddingIdx !== undefined && (!Number.isInteger(paddingIdx) || paddingIdx < -vocab || paddingIdx >= vocab)) {
    throw new ShapeError(`embedding: paddingIdx ${paddingIdx} is not a row of weight ${formatShape(weight.shape)} (expected an integer in [${-vocab}, ${vocab}))`);
  }
  const padRow = paddingIdx === undefined ? null : paddingIdx < 0 ? paddingIdx + vocab : paddingIdx;
  const idData = ids.contiguousData();
  for (let i = 0; i < idData.length; i++) {
    if (idData[i] < 0 || idData[i] >= vocab) {
      throw new ShapeError(`embedding: id ${idData[i]} at flat position ${i} of ids ${formatShape(ids.shape)} is outside the vocabulary [0, ${vocab})`);
    }
  }
  const outShape = [...ids.shape, hidden];
  const out =
    idData.length * hidden === 0
      ? Tensor.fromData(new Float32Array(0), outShape)
      : Tensor.fromData(runEmbeddingGather(weight.contiguousData(), vocab, hidden, idData), outShape);
  return record(out, 'embedding', [ids, weight], { idData, padRow });
}
