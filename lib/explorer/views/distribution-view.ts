// The next-token distribution after the last prompt token, redrawn live as
// temperature, top-k and top-p change (distribution.ts: sampling.ts's order).

import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';
import { bars } from './charts.ts';
import { el, renderInto } from './dom.ts';
import { mostProbable, nextTokenDistribution, type DistributionControls } from './distribution.ts';
import { tokenLabel } from './prompt.ts';

const SHOWN = 15;

function slider(name: string, min: number, max: number, step: number, value: number, onInput: (value: number) => void): HTMLElement {
  const input = el('input', { type: 'range', min: String(min), max: String(max), step: String(step), value: String(value), 'data-control': name });
  const shown = el('output', {}, String(value));
  input.addEventListener('input', () => {
    shown.textContent = input.value;
    onInput(Number(input.value));
  });
  return el('label', { class: 'slider' }, `${name} `, input, ' ', shown);
}

/** `logits`: one row, the last position's (the model's output, final softcap applied). */
export function distributionView(logits: ArrayLike<number>, tokenizer: HfTokenizer | null): HTMLElement {
  const controls: DistributionControls = { temperature: 1, topK: 50, topP: 1 };
  const body = el('div', { class: 'distribution-body' });
  const draw = () =>
    renderInto(body, () => {
      const probabilities = nextTokenDistribution(logits, controls);
      const kept = probabilities.reduce((n, p) => n + (p > 0 ? 1 : 0), 0);
      return [
        el('p', {}, `${kept} of ${probabilities.length} tokens can be drawn.`),
        bars(
          mostProbable(probabilities, SHOWN).map((t) => ({ label: tokenLabel(t.id, tokenizer), value: t.probability, note: `${(t.probability * 100).toFixed(2)}%` })),
          'next-token probabilities',
        ),
      ];
    });
  draw();
  const set = (key: keyof DistributionControls) => (value: number) => {
    controls[key] = value;
    draw();
  };
  return el(
    'section',
    { class: 'distribution-view' },
    el('h3', {}, 'Next-token distribution'),
    el('p', {}, 'GEMMA2.md, "Sampling, as Transformers orders it": logits / temperature, then top-k, then top-p, then softmax.'),
    slider('temperature', 0.05, 3, 0.05, controls.temperature, set('temperature')),
    slider('top-k', 0, 100, 1, controls.topK, set('topK')),
    slider('top-p', 0.05, 1, 0.05, controls.topP, set('topP')),
    body,
  );
}
