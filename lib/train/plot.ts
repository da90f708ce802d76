// Loss curves as a hand-written SVG line chart: one polyline per series,
// axes with "nice" ticks (1, 2 or 5 times a power of ten) and labels, and a
// legend. A non-finite point (a diverged loss) cannot sit on the scale: the
// line breaks there, an × marks its step at the top edge, and a note in the
// chart counts them, so a divergence is never silently dropped. No
// dependency: the whole chart is ~150 lines of text.

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
    .map((s) => ({
      ...s,
      points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
      // the steps whose value is NaN or infinite (JSON's null, read back from a log, counts too)
      nonFinite: s.points.filter(([x, y]) => Number.isFinite(x) && !Number.isFinite(y)).map(([x]) => x),
    }))
    .filter((s) => s.points.length > 0 || s.nonFinite.length > 0);
  const xs = drawn.flatMap((s) => [...s.points.map(([x]) => x), ...s.nonFinite]);
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
    for (const run of finiteRuns(s.points, s.nonFinite)) {
      out.push(`<polyline class="series" data-name="${escapeXml(s.name)}" fill="none" stroke="${color}" stroke-width="1.5" points="${run.map(([x, y]) => `${n(px(x))},${n(py(y))}`).join(' ')}"/>`);
    }
    if (s.markers) for (const [x, y] of s.points) out.push(`<circle cx="${n(px(x))}" cy="${n(py(y))}" r="3" fill="${color}"/>`);
    for (const x of s.nonFinite) {
      const [cx, cy] = [px(x), area.top + 6];
      out.push(`<path class="non-finite" data-name="${escapeXml(s.name)}" d="M${n(cx - 4)},${n(cy - 4)}L${n(cx + 4)},${n(cy + 4)}M${n(cx - 4)},${n(cy + 4)}L${n(cx + 4)},${n(cy - 4)}" stroke="${color}" stroke-width="2"/>`);
    }
  }
  drawn
    .filter((s) => s.nonFinite.length > 0)
    .forEach((s, i) => {
      const steps = s.nonFinite.length <= 5 ? s.nonFinite.join(', ') : `${s.nonFinite.slice(0, 5).join(', ')}, ...`;
      const text = `${s.name}: ${s.nonFinite.length} non-finite value${s.nonFinite.length === 1 ? '' : 's'} (NaN or infinite) at x = ${steps}, marked × at the top`;
      out.push(`<text class="non-finite-note" x="${n(area.left + 8)}" y="${n(area.top + 24 + i * 16)}" fill="#d62728">${escapeXml(text)}</text>`);
    });
  drawn.forEach((s, i) => {
    const y = area.top + 14 + i * 16;
    out.push(`<line x1="${n(area.right - 120)}" y1="${n(y - 4)}" x2="${n(area.right - 100)}" y2="${n(y - 4)}" stroke="${escapeXml(s.color)}" stroke-width="2"/>`);
    out.push(`<text x="${n(area.right - 94)}" y="${n(y)}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** The finite points split where a non-finite point falls between them: a line never bridges a divergence. */
function finiteRuns(points: readonly (readonly [number, number])[], nonFinite: readonly number[]): (readonly [number, number])[][] {
  const runs: (readonly [number, number])[][] = [];
  let run: (readonly [number, number])[] = [];
  for (const point of points) {
    const previous = run.at(-1);
    if (previous !== undefined && nonFinite.some((x) => (x > previous[0] && x < point[0]) || (x < previous[0] && x > point[0]))) {
      runs.push(run);
      run = [];
    }
    run.push(point);
  }
  if (run.length > 0) runs.push(run);
  return runs;
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
