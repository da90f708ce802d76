// Loss curves as a hand-written SVG line chart: one polyline per series,
// axes with "nice" ticks (1, 2 or 5 times a power of ten) and labels, and a
// legend. Non-finite points (a diverged loss) are left out rather than
// breaking the scale. No dependency: the whole chart is ~100 lines of text.

export interface Series {
  name: string;
  points: readonly (readonly [x: number, y: number])[];
  color: string;
  /** Draw a dot at every point as well (sparse series such as eval loss). */
  markers?: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
}

/** The plot area inside the margins, in SVG user units. */
export interface PlotArea {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Tick spacing: 1, 2 or 5 times a power of ten, giving about `target` intervals over [min, max]. */
export function tickStep(min: number, max: number, target = 5): number {
  const rough = (max - min) / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough * (1 - 1e-9)) ?? 10 * magnitude;
}

/** [lo, hi] widened to whole ticks, with the ticks; a zero-width range is widened around its value first. */
export function niceScale(min: number, max: number, target = 5): { lo: number; hi: number; ticks: number[]; step: number } {
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    [min, max] = [min - pad, max + pad];
  }
  const step = tickStep(min, max, target);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(lo + i * step);
  return { lo, hi, ticks, step };
}

function tickLabel(value: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(decimals);
}

const n = (v: number) => v.toFixed(2);

export const DEFAULT_AREA = (width: number, height: number): PlotArea => ({ left: 64, top: 36, right: width - 16, bottom: height - 48 });

export function lineChartSvg(series: readonly Series[], options: ChartOptions = {}): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const area = DEFAULT_AREA(width, height);
  const drawn = series
    .map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }))
    .filter((s) => s.points.length > 0);
  const xs = drawn.flatMap((s) => s.points.map(([x]) => x));
  const ys = drawn.flatMap((s) => s.points.map(([, y]) => y));
  const xScale = niceScale(xs.length > 0 ? Math.min(...xs) : 0, xs.length > 0 ? Math.max(...xs) : 1);
  const yScale = niceScale(ys.length > 0 ? Math.min(...ys) : 0, ys.length > 0 ? Math.max(...ys) : 1);
  const px = (x: number) => area.left + ((x - xScale.lo) / (xScale.hi - xScale.lo)) * (area.right - area.left);
  const py = (y: number) => area.bottom - ((y - yScale.lo) / (yScale.hi - yScale.lo)) * (area.bottom - area.top);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title) out.push(`<text x="${n(width / 2)}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`);
  out.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const t of xScale.ticks) out.push(`<line x1="${n(px(t))}" y1="${n(area.top)}" x2="${n(px(t))}" y2="${n(area.bottom)}"/>`);
  for (const t of yScale.ticks) out.push(`<line x1="${n(area.left)}" y1="${n(py(t))}" x2="${n(area.right)}" y2="${n(py(t))}"/>`);
  out.push('</g>');
  out.push(`<g class="axes" stroke="black" stroke-width="1">`);
  out.push(`<line x1="${n(area.left)}" y1="${n(area.bottom)}" x2="${n(area.right)}" y2="${n(area.bottom)}"/>`);
  out.push(`<line x1="${n(area.left)}" y1="${n(area.top)}" x2="${n(area.left)}" y2="${n(area.bottom)}"/>`);
  for (const t of xScale.ticks) out.push(`<line x1="${n(px(t))}" y1="${n(area.bottom)}" x2="${n(px(t))}" y2="${n(area.bottom + 5)}"/>`);
  for (const t of yScale.ticks) out.push(`<line x1="${n(area.left - 5)}" y1="${n(py(t))}" x2="${n(area.left)}" y2="${n(py(t))}"/>`);
  out.push('</g>');
  out.push('<g class="tick-labels">');
  for (const t of xScale.ticks) out.push(`<text x="${n(px(t))}" y="${n(area.bottom + 18)}" text-anchor="middle">${tickLabel(t, xScale.step)}</text>`);
  for (const t of yScale.ticks) out.push(`<text x="${n(area.left - 8)}" y="${n(py(t) + 4)}" text-anchor="end">${tickLabel(t, yScale.step)}</text>`);
  out.push('</g>');
  if (options.xLabel) out.push(`<text x="${n((area.left + area.right) / 2)}" y="${n(height - 10)}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  if (options.yLabel) {
    const cy = (area.top + area.bottom) / 2;
    out.push(`<text x="16" y="${n(cy)}" text-anchor="middle" transform="rotate(-90 16 ${n(cy)})">${escapeXml(options.yLabel)}</text>`);
  }
  for (const s of drawn) {
    const color = escapeXml(s.color);
    out.push(`<polyline class="series" data-name="${escapeXml(s.name)}" fill="none" stroke="${color}" stroke-width="1.5" points="${s.points.map(([x, y]) => `${n(px(x))},${n(py(y))}`).join(' ')}"/>`);
    if (s.markers) for (const [x, y] of s.points) out.push(`<circle cx="${n(px(x))}" cy="${n(py(y))}" r="3" fill="${color}"/>`);
  }
  drawn.forEach((s, i) => {
    const y = area.top + 14 + i * 16;
    out.push(`<line x1="${n(area.right - 120)}" y1="${n(y - 4)}" x2="${n(area.right - 100)}" y2="${n(y - 4)}" stroke="${escapeXml(s.color)}" stroke-width="2"/>`);
    out.push(`<text x="${n(area.right - 94)}" y="${n(y)}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Train and eval loss against the optimizer step. */
export function lossCurveSvg(train: readonly (readonly [number, number])[], evaluation: readonly (readonly [number, number])[], options: ChartOptions = {}): string {
  return lineChartSvg(
    [
      { name: 'train loss', points: train, color: '#1f77b4' },
      { name: 'eval loss', points: evaluation, color: '#ff7f0e', markers: true },
    ],
    { title: 'Loss', xLabel: 'step', yLabel: 'loss (mean cross-entropy per token)', ...options },
  );
}
