// What the training-data modules share: their error and the label the loss skips.

export class DataError extends Error {
  override name = 'DataError';
}

/** Label value the loss skips (Transformers' and PyTorch's ignore_index). */
export const IGNORE_INDEX = -100;
