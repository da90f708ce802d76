// The logit lens table: for one position, the top tokens read off the
// residual stream after the embedding and after each layer (logit-lens.ts).

import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';
import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';
import { el, formatNumber, renderInto, select } from './dom.ts';
import type { ForwardRun } from './forward-run.ts';
import { logitLens } from './logit-lens.ts';
import { tokenLabel } from './prompt.ts';

const TOP = 5;

export function logitLensView(model: Gemma2ForCausalLM, run: ForwardRun, tokenizer: HfTokenizer | null): HTMLElement {
  const body = el('div', { class: 'logit-lens-body' });
  const draw = (position: number) =>
    renderInto(body, () =>
      el(
        'table',
        { class: 'logit-lens' },
        el('tr', {}, el('th', {}, 'residual stream'), ...Array.from({ length: TOP }, (_, i) => el('th', {}, `#${i + 1}`))),
        ...logitLens(model, run, position, TOP).map((row) =>
          el('tr', {}, el('td', {}, row.point), ...row.top.map((t) => el('td', { title: `logit ${formatNumber(t.logit)}` }, `${tokenLabel(t.id, tokenizer)} (${(t.probability * 100).toFixed(1)}%)`))),
        ),
      ),
    );
  const last = run.ids.length - 1;
  const positions = run.ids.map((id, t): [string, string] => [String(t), `${t}: ${tokenLabel(id, tokenizer)}`]);
  draw(last);
  return el(
    'section',
    { class: 'logit-lens-view' },
    el('h3', {}, 'Logit lens'),
    el('p', {}, 'Each residual stream read through the final norm, the head E (the embedding when tied) and the final softcap: softcap(RMSNorm_final(h) E^T). The last row is the model\'s own prediction.'),
    select('position', positions, String(last), (value) => draw(Number(value)), { 'data-control': 'lens-position' }),
    body,
  );
}
