// Shapes, strides and broadcasting rules (numpy's), with errors that name the
// op and every shape involved.

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides: the last axis moves fastest. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = step;
    step *= shape[i];
  }
  return strides;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Thrown for every user-facing shape, dtype or argument problem. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: invalid shape ${formatShape(shape)} (dimensions must be non-negative integers)`);
    }
  }
}

/**
 * numpy broadcasting: align shapes on the right; each pair of sizes must be
 * equal or one of them 1.
 */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (let i = 0; i < rank; i++) {
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (out[i] !== 1 && out[i] !== d) {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast together (axis ${i - rank} has sizes ${out[i]} and ${d})`,
        );
      }
      out[i] = d;
    }
  }
  return out;
}

/** Turns a possibly negative axis into 0..rank-1, or throws naming the op. */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

/** The shape left after reducing `axis`, keeping it as size 1 if asked. */
export function reducedShape(shape: Shape, axis: number, keepDim: boolean): number[] {
  const out = shape.slice();
  if (keepDim) out[axis] = 1;
  else out.splice(axis, 1);
  return out;
}

/**
 * Splits a shape around `axis` into [outer, length, inner]: the three sizes a
 * reduction or a concat kernel works with on contiguous data.
 */
export function splitAroundAxis(shape: Shape, axis: number): [outer: number, length: number, inner: number] {
  return [numel(shape.slice(0, axis)), shape[axis], numel(shape.slice(axis + 1))];
}
