// A readable toString, PyTorch-like: nested brackets, aligned columns, long
// axes summarised as "first 3 ... last 3".

import { type DType, type TypedData, readableValues } from './dtype.ts';
import { formatShape, numel } from './shape.ts';

/** What formatting reads of a Tensor (stated here, so this file and tensor.ts do not import each other). */
interface Formattable {
  readonly shape: number[];
  readonly dtype: DType;
  readonly size: number;
  readonly requiresGrad: boolean;
  readonly gradNode: { readonly op: string } | null;
  contiguousData(): TypedData;
}

const EDGE_ITEMS = 3;
const SUMMARISE_ABOVE = 1000;

function formatNumber(value: number, integer: boolean): string {
  if (integer) return String(value);
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e5 || magnitude < 1e-4)) return value.toExponential(4);
  return value.toFixed(4);
}

export function formatTensor(t: Formattable): string {
  const shape = t.shape;
  const data = readableValues(t.contiguousData());
  const integer = t.dtype === 'int32';
  const summarise = t.size > SUMMARISE_ABOVE;
  // Two passes over the shown elements only: measure the widest, then pad.
  let width = 1;
  let pad = false;
  const cell = (offset: number): string => {
    const text = formatNumber(data[offset], integer);
    if (!pad) width = Math.max(width, text.length);
    return text.padStart(width);
  };

  const render = (axis: number, offset: number, indent: string): string => {
    if (axis === shape.length) return cell(offset);
    const n = shape[axis];
    const step = numel(shape.slice(axis + 1));
    const shown: (number | null)[] =
      summarise && n > 2 * EDGE_ITEMS
        ? [...Array.from({ length: EDGE_ITEMS }, (_, i) => i), null, ...Array.from({ length: EDGE_ITEMS }, (_, i) => n - EDGE_ITEMS + i)]
        : Array.from({ length: n }, (_, i) => i);
    const parts = shown.map((i) => (i === null ? '...' : render(axis + 1, offset + i * step, indent + ' ')));
    const last = axis === shape.length - 1;
    const separator = last ? ', ' : ',' + '\n'.repeat(shape.length - axis - 1) + indent + ' ';
    return '[' + parts.join(separator) + ']';
  };

  render(0, 0, '');
  pad = true;
  const body = render(0, 0, '       ');
  const notes = [`shape=${formatShape(shape)}`, `dtype=${t.dtype}`];
  if (t.requiresGrad) notes.push(t.gradNode ? `grad_fn=${t.gradNode.op}` : 'requiresGrad');
  return `tensor(${body}, ${notes.join(', ')})`;
}
