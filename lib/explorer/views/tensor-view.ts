// One tensor, as a step shows it: its shape (with hook-points.ts's axis
// letters), min / max / mean / norm, a histogram of every value, and a heat
// map of a 2-D slice (the last two axes; a selector per axis before them).

import type { Tensor } from '../../tensor/tensor.ts';
import { colourBar, heatMap, histogramChart } from './charts.ts';
import { scaleFor } from './colour-scale.ts';
import { el, formatNumber, select } from './dom.ts';
import { histogram, slice2D, summarize } from './tensor-stats.ts';

/** `axes`: the shape in letters, e.g. '[B, heads, T, S]' (hook-points.ts). */
export function tensorView(tensor: Tensor, name: string, axes: string): HTMLElement {
  const values = tensor.floatData();
  const summary = summarize(values);
  const letters = axes.slice(1, -1).split(',').map((a) => a.trim());
  const leadingAxes = tensor.shape.slice(0, -2);
  const leading = leadingAxes.map(() => 0);
  const mapHolder = el('div', { class: 'heat-map' });

  const drawSlice = () => {
    const slice = slice2D(values, tensor.shape, leading);
    const scale = scaleFor(slice.values);
    const where = leading.map((index, axis) => `${letters[axis] ?? axis}=${index}`).join(', ');
    mapHolder.replaceChildren(heatMap(slice, scale, `${name}${where ? ` at ${where}` : ''}`), colourBar(scale));
  };
  const selectors = leadingAxes.map((size, axis) =>
    select(
      letters[axis] ?? `axis ${axis}`,
      Array.from({ length: size }, (_, i) => [String(i), String(i)]),
      '0',
      (value) => {
        leading[axis] = Number(value);
        drawSlice();
      },
      { 'data-axis': String(axis) },
    ),
  );
  drawSlice();

  const numbers = el(
    'dl',
    { class: 'tensor-numbers' },
    ...(['min', 'max', 'mean', 'norm'] as const).flatMap((key) => [el('dt', {}, key), el('dd', {}, formatNumber(summary[key]))]),
    ...(summary.nonFinite > 0 ? [el('dt', {}, 'non-finite'), el('dd', {}, String(summary.nonFinite))] : []),
  );
  const rows = tensor.shape.at(-2) ?? 1;
  const cols = tensor.shape.at(-1) ?? 1;
  return el(
    'section',
    { class: 'tensor-view', 'data-point': name },
    el('h4', {}, `${name} `, el('code', { class: 'tensor-shape' }, `${axes} = [${tensor.shape.join(', ')}]`), ` ${tensor.dtype}`),
    numbers,
    el('div', { class: 'slice-selectors' }, ...selectors, ` heat map: ${letters.at(-2) ?? ''} ${rows} rows x ${letters.at(-1) ?? ''} ${cols} columns`),
    mapHolder,
    el('figure', {}, histogramChart(histogram(values, 40), `${name} histogram`), el('figcaption', {}, 'histogram of every value')),
  );
}
