// Argument checks shared by the ops; every message names the op.

import type { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape } from '../tensor/shape.ts';

export function expectFloat(op: string, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    if (t.dtype !== 'float32') {
      throw new ShapeError(`${op}: expected a float32 tensor, got ${t.dtype} of shape ${formatShape(t.shape)}`);
    }
  }
}

export function expectInt(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'int32') {
    throw new ShapeError(`${op}: ${what} must be an int32 tensor, got ${t.dtype} of shape ${formatShape(t.shape)}`);
  }
}

export function expectRank(op: string, what: string, t: Tensor, rank: number | number[]): void {
  const ranks = Array.isArray(rank) ? rank : [rank];
  if (!ranks.includes(t.rank)) {
    throw new ShapeError(`${op}: ${what} must have rank ${ranks.join(' or ')}, got shape ${formatShape(t.shape)}`);
  }
}
