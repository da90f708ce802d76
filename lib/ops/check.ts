// Argument checks shared by the ops; every message names the op.

import type { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape } from '../tensor/shape.ts';

/** What every op but the weight readers says to a bfloat16 tensor (lib/tensor/dtype.ts). */
export function bfloat16Refused(op: string, t: Tensor): ShapeError {
  return new ShapeError(
    `${op}: bfloat16 tensors are weights kept in their stored dtype; only linear, matmul (as the weight, the second operand) and embedding (as the table) read them. Widen with .float() (got bfloat16 of shape ${formatShape(t.shape)})`,
  );
}

export function expectFloat(op: string, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    if (t.dtype === 'bfloat16') throw bfloat16Refused(op, t);
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

/**
 * A weight operand (linear's weight, matmul's second operand, embedding's
 * table): float32, or bfloat16 kept as the checkpoint stores it, which the
 * kernels widen as they read (exactly, so the product is the one of the
 * widened weight).
 */
export function expectWeight(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'float32' && t.dtype !== 'bfloat16') {
    throw new ShapeError(`${op}: expected a float32 tensor, got ${t.dtype} of shape ${formatShape(t.shape)} (as ${what}: float32, or a bfloat16 weight)`);
  }
}
