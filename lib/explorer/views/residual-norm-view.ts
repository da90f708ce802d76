// The residual stream's norm ||h|| after each layer (resid_post), one line
// per prompt position: how the stream grows through the stack.

import { lineChart } from './charts.ts';
import { el } from './dom.ts';
import { residualNorms, type ForwardRun } from './forward-run.ts';
import { tokenLabel } from './prompt.ts';
import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function residualNormView(run: ForwardRun, layers: number, tokenizer: HfTokenizer | null): HTMLElement {
  const norms = residualNorms(run, layers); // [layer][position]
  const T = run.ids.length;
  // at most 10 lines: the last positions, where the next token is read
  const positions = Array.from({ length: Math.min(T, COLOURS.length) }, (_, i) => T - Math.min(T, COLOURS.length) + i);
  const series = positions.map((t, i) => ({ label: `${t}:${tokenLabel(run.ids[t], tokenizer)}`, values: norms.map((row) => row[t]), colour: COLOURS[i] }));
  return el(
    'section',
    { class: 'residual-norm-view' },
    el('h3', {}, 'Residual stream norm across layers'),
    lineChart(series, norms.map((_, layer) => String(layer)), '||resid_post|| per layer'),
    el('p', {}, 'x: layer; y: sqrt(sum h^2) of the residual stream after the layer (layers.<i>.resid_post), per position.'),
  );
}
