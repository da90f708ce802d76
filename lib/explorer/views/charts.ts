// Canvas drawings the views share: a heat map with its colour bar, a
// histogram, a line chart, and horizontal bars (HTML).

import { colourOf, type ColourScale } from './colour-scale.ts';
import { el, formatNumber } from './dom.ts';
import type { Histogram, Slice2D } from './tensor-stats.ts';

function canvas(width: number, height: number, label: string): { canvas: HTMLCanvasElement; context: CanvasRenderingContext2D } {
  const c = el('canvas', { width: String(width), height: String(height), role: 'img', 'aria-label': label });
  const context = c.getContext('2d');
  if (context === null) throw new Error('explorer: this browser gives no 2-D canvas context');
  return { canvas: c, context };
}

/** The largest cell size (px) that keeps a rows x cols map within maxWidth x maxHeight, at least 1. */
function cellSizeFor(rows: number, cols: number, maxWidth: number, maxHeight: number): number {
  return Math.max(1, Math.min(24, Math.floor(maxWidth / cols), Math.floor(maxHeight / rows)));
}

/**
 * A heat map of a 2-D slice, one cell per value. `overlay` draws on top in
 * cell coordinates (the attention view's sliding-window band).
 */
export function heatMap(slice: Slice2D, scale: ColourScale, label: string, overlay?: (context: CanvasRenderingContext2D, cell: number) => void, maxSize = 360): HTMLCanvasElement {
  const cell = cellSizeFor(slice.rows, slice.cols, maxSize, maxSize);
  const { canvas: c, context } = canvas(slice.cols * cell, slice.rows * cell, label);
  const image = context.createImageData(slice.cols * cell, slice.rows * cell);
  for (let r = 0; r < slice.rows; r++) {
    for (let col = 0; col < slice.cols; col++) {
      const [red, green, blue] = colourOf(slice.values[r * slice.cols + col], scale);
      for (let y = r * cell; y < (r + 1) * cell; y++) {
        for (let x = col * cell; x < (col + 1) * cell; x++) {
          const i = (y * slice.cols * cell + x) * 4;
          image.data[i] = red;
          image.data[i + 1] = green;
          image.data[i + 2] = blue;
          image.data[i + 3] = 255;
        }
      }
    }
  }
  context.putImageData(image, 0, 0);
  overlay?.(context, cell);
  c.title = `${label}: ${slice.rows} x ${slice.cols}`;
  // the value under the pointer, as the canvas's tooltip
  c.addEventListener('mousemove', (event) => {
    const rect = c.getBoundingClientRect();
    const col = Math.floor(((event.clientX - rect.left) / rect.width) * slice.cols);
    const row = Math.floor(((event.clientY - rect.top) / rect.height) * slice.rows);
    if (row < 0 || row >= slice.rows || col < 0 || col >= slice.cols) return;
    c.title = `${label}\nrow ${row}, column ${col}: ${slice.values[row * slice.cols + col]}`;
  });
  return c;
}

/** The colour bar of a scale, labelled at its ends (and 0 when diverging). */
export function colourBar(scale: ColourScale): HTMLElement {
  const width = 160;
  const { canvas: c, context } = canvas(width, 10, 'colour scale');
  const low = scale.kind === 'diverging' ? -scale.limit : 0;
  for (let x = 0; x < width; x++) {
    const [r, g, b] = colourOf(low + ((x + 0.5) / width) * (scale.limit - low), scale);
    context.fillStyle = `rgb(${r}, ${g}, ${b})`;
    context.fillRect(x, 0, 1, 10);
  }
  return el('div', { class: 'colour-bar' }, `${formatNumber(low)} `, c, ` ${formatNumber(scale.limit)}`);
}

export function histogramChart(h: Histogram, label: string): HTMLCanvasElement {
  const width = 240;
  const height = 80;
  const { canvas: c, context } = canvas(width, height, label);
  const most = Math.max(1, ...h.counts);
  const barWidth = width / h.counts.length;
  context.fillStyle = '#4a6fa5';
  h.counts.forEach((count, i) => {
    const barHeight = (count / most) * (height - 12);
    context.fillRect(i * barWidth, height - 12 - barHeight, Math.max(1, barWidth - 1), barHeight);
  });
  context.fillStyle = '#333';
  context.font = '10px sans-serif';
  context.fillText(formatNumber(h.low), 0, height - 1);
  const high = formatNumber(h.high);
  context.fillText(high, width - context.measureText(high).width, height - 1);
  return c;
}

export interface LineSeries {
  label: string;
  values: number[];
  colour: string;
}

/** Lines over x = 0..n-1, y from 0 to the largest value, with the x labels given. */
export function lineChart(series: LineSeries[], xLabels: string[], label: string): HTMLElement {
  const width = 420;
  const height = 180;
  const pad = 30;
  const { canvas: c, context } = canvas(width, height, label);
  const top = Math.max(1e-12, ...series.flatMap((s) => s.values.filter(Number.isFinite)));
  const x = (i: number) => pad + (xLabels.length <= 1 ? 0 : (i / (xLabels.length - 1)) * (width - 2 * pad));
  const y = (v: number) => height - pad - (v / top) * (height - 2 * pad);
  context.strokeStyle = '#999';
  context.strokeRect(pad, pad, width - 2 * pad, height - 2 * pad);
  context.fillStyle = '#333';
  context.font = '10px sans-serif';
  context.fillText(formatNumber(top), 2, pad);
  context.fillText('0', 2, height - pad);
  xLabels.forEach((text, i) => context.fillText(text, x(i) - 4, height - pad + 12));
  for (const s of series) {
    context.strokeStyle = s.colour;
    context.beginPath();
    s.values.forEach((v, i) => (i === 0 ? context.moveTo(x(i), y(v)) : context.lineTo(x(i), y(v))));
    context.stroke();
  }
  const legend = el('div', { class: 'legend' }, ...series.map((s) => el('span', { style: `color: ${s.colour}` }, `— ${s.label} `)));
  return el('figure', {}, c, legend);
}

/** Horizontal bars, one row per item, scaled to the largest value. */
export function bars(items: { label: string; value: number; note?: string }[], label: string): HTMLElement {
  const largest = Math.max(1e-30, ...items.map((i) => i.value).filter(Number.isFinite));
  return el(
    'table',
    { class: 'bars', 'aria-label': label },
    ...items.map((item) =>
      el(
        'tr',
        {},
        el('td', { class: 'bar-label' }, item.label),
        el('td', { class: 'bar-cell' }, el('div', { class: 'bar', style: `width: ${Math.max(0, (item.value / largest) * 100).toFixed(1)}%` })),
        el('td', { class: 'bar-value' }, item.note ?? formatNumber(item.value)),
      ),
    ),
  );
}
