// The attention view of one layer: for each query head, the raw scores
// (q k^T scaled) beside the softcapped ones, then the pattern with the
// sliding window's band outlined on sliding layers, and the layer's mask.

import type { Gemma2Config } from '../../model/config.ts';
import { layerAttention, type LayerAttention } from './attention-maps.ts';
import { colourBar, heatMap } from './charts.ts';
import { scaleFor } from './colour-scale.ts';
import { el, renderInto, select } from './dom.ts';
import type { ForwardRun } from './forward-run.ts';
import { tokenLabel } from './prompt.ts';
import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';

/** Outlines the band a sliding layer lets through: keys s with t - window < s <= t. */
function windowBand(T: number, window: number) {
  return (context: CanvasRenderingContext2D, cell: number) => {
    context.strokeStyle = '#e08000';
    context.lineWidth = 2;
    context.beginPath();
    for (let t = 0; t < T; t++) {
      const first = Math.max(0, t - window + 1);
      context.rect(first * cell, t * cell, (t - first + 1) * cell, cell);
    }
    context.stroke();
  };
}

function labelled(title: string, ...content: Node[]): HTMLElement {
  return el('figure', { class: 'attention-map' }, el('figcaption', {}, title), ...content);
}

function headRow(maps: LayerAttention, head: number): HTMLElement {
  const { scores, capped, pattern } = maps.heads[head];
  const T = pattern.rows;
  const overlay = maps.window === null ? undefined : windowBand(T, maps.window);
  // raw and capped scores on one scale, so the cap's flattening shows
  const scoreScale = scaleFor([...scores.values, ...capped.values]);
  const patternScale = { kind: 'sequential' as const, limit: 1 };
  return el(
    'div',
    { class: 'attention-head', 'data-head': String(head) },
    el('h4', {}, `head ${head}`),
    labelled('scores (attn.scores)', heatMap(scores, scoreScale, `layer ${maps.layer} head ${head} scores`, undefined, 200)),
    labelled('softcapped (attn.capped_scores)', heatMap(capped, scoreScale, `layer ${maps.layer} head ${head} capped scores`, undefined, 200), colourBar(scoreScale)),
    labelled(`pattern (attn.pattern)${overlay ? ', window outlined' : ''}`, heatMap(pattern, patternScale, `layer ${maps.layer} head ${head} pattern`, overlay, 200), colourBar(patternScale)),
  );
}

function maskMap(maps: LayerAttention): HTMLElement {
  const T = maps.allowed.length;
  const values = Float64Array.from(maps.allowed.flat(), (ok) => (ok ? 1 : 0));
  const caption = maps.sliding ? `mask: causal and k > p - ${maps.window} (sliding layer)` : 'mask: causal (global layer)';
  return labelled(caption + '; dark = may attend, M = finfo.min elsewhere', heatMap({ rows: T, cols: T, values }, { kind: 'sequential', limit: 1 }, `layer ${maps.layer} mask`, undefined, 200));
}

export function attentionView(config: Gemma2Config, run: ForwardRun, tokenizer: HfTokenizer | null): HTMLElement {
  const body = el('div', { class: 'attention-body' });
  const draw = (layer: number) =>
    renderInto(body, () => {
      const maps = layerAttention(config, run, layer);
      return [maskMap(maps), ...maps.heads.map((_, head) => headRow(maps, head))];
    });
  const layers = Array.from({ length: config.numHiddenLayers }, (_, i): [string, string] => [String(i), `layer ${i} (${config.layerTypes[i] === 'sliding_attention' ? 'sliding' : 'global'})`]);
  draw(0);
  const tokens = run.ids.map((id, t) => `${t}:${tokenLabel(id, tokenizer)}`).join('  ');
  return el(
    'section',
    { class: 'attention-view' },
    el('h3', {}, 'Attention'),
    el('p', {}, `Rows are queries, columns keys (positions ${tokens}). ${config.numAttentionHeads} query heads share ${config.numKeyValueHeads} key/value heads.`),
    select('layer', layers, '0', (value) => draw(Number(value)), { 'data-control': 'attention-layer' }),
    body,
  );
}
