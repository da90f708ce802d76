// Trace parity (golden/FORMAT.md v1.1): a case made with `make_case.py --trace`
// holds `trace.<hook point>` tensors, Transformers' activation at each of our
// hook points (lib/model/hook-points.ts), and with `--attentions` the
// `attentions.<layer>` probabilities. Walking the trace in forward order, the
// first point outside its bound is where an implementation (or a checkpoint)
// starts to differ: every point before it agrees, so the op that computes it
// is the one to look at.

import { hookPointOrder, hookPointSpec, positionAxes } from '../model/hook-points.ts';
import type { Comparison, PositionMask } from './compare.ts';

export const TRACE_PREFIX = 'trace.';
export const ATTENTIONS_PREFIX = 'attentions.';

/** The hook point a case tensor traces (`trace.layers.0.attn.q` -> `layers.0.attn.q`), or undefined. */
export function tracedPoint(tensor: string): string | undefined {
  return tensor.startsWith(TRACE_PREFIX) ? tensor.slice(TRACE_PREFIX.length) : undefined;
}

/**
 * The attention mask as it applies to one expected tensor: trace and
 * attention tensors are masked on every axis over positions (queries and
 * keys), the rest on their leading [B, T].
 */
export function maskFor(tensor: string, mask: { shape: number[]; data: ArrayLike<number> }): PositionMask {
  const point = tracedPoint(tensor);
  const spec = point === undefined ? undefined : hookPointSpec(point);
  if (spec !== undefined) return { ...mask, axes: positionAxes(spec) };
  if (tensor.startsWith(ATTENTIONS_PREFIX)) return { ...mask, axes: [2, 3] }; // [B, heads, T, S]
  return mask;
}

export interface TraceReport {
  /** Every traced point's comparison (tensor = the point's name), in forward order. */
  points: Comparison[];
  /** Index in `points` of the first point outside its bound; -1 when every point is within. */
  firstDivergence: number;
}

/** The trace comparisons of a case, in forward order, and where they first fail. */
export function traceReport(comparisons: readonly Comparison[]): TraceReport {
  const points = comparisons
    .filter((c) => tracedPoint(c.tensor) !== undefined)
    .map((c) => ({ ...c, tensor: tracedPoint(c.tensor)! }))
    .sort((a, b) => hookPointOrder(a.tensor) - hookPointOrder(b.tensor));
  return { points, firstDivergence: points.findIndex((c) => !c.pass) };
}

function formatError(value: number): string {
  return Number.isFinite(value) ? value.toExponential(1) : 'inf';
}

/**
 * One line: "first divergence: layers.7.mlp.act, 3.2e-3 > bound 1.1e-3; all 41
 * hook points before it within bounds", or that all N agree.
 */
export function traceSummary(report: TraceReport): string {
  const { points, firstDivergence } = report;
  if (points.length === 0) return 'trace: the case traces no hook point (make it with make_case.py --trace)';
  if (firstDivergence < 0) return `trace: all ${points.length} hook points within bounds`;
  const first = points[firstDivergence];
  const why = first.note ?? `${formatError(first.maxError)} > bound ${formatError(first.bound)}`;
  const before = firstDivergence === 0 ? 'it is the first hook point' : `all ${firstDivergence} hook points before it within bounds`;
  return `first divergence: ${first.tensor}, ${why}; ${before}`;
}

/** The table of trace points from the first divergence on (every point when none diverges): error, bound and their ratio. */
export function traceTable(report: TraceReport): string[] {
  const from = Math.max(0, report.firstDivergence);
  const rows = report.points.slice(from);
  const width = Math.max(10, ...rows.map((c) => c.tensor.length));
  const lines = [`  ${'hook point'.padEnd(width)}  ${'max |error|'.padStart(11)}  ${'bound'.padStart(9)}  ${'error/bound'.padStart(11)}  result`];
  for (const c of rows) {
    const ratio = c.bound > 0 && Number.isFinite(c.maxError) ? (c.maxError / c.bound).toPrecision(2) : 'inf';
    lines.push(
      `  ${c.tensor.padEnd(width)}  ${formatError(c.maxError).padStart(11)}  ${formatError(c.bound).padStart(9)}  ${ratio.padStart(11)}  ${c.pass ? 'pass' : 'FAIL'}${c.note ? ` (${c.note})` : ''}`,
    );
  }
  return lines;
}
