// Stepping through the forward pass: one hook point at a time, in the order
// the model computed them, the tensor on the left and the source lines and
// formula that made it on the right. Previous / next, or jump to any step.

import { activationAt, type ForwardRun } from './forward-run.ts';
import { button, el, renderInto } from './dom.ts';
import { forwardSteps } from './steps.ts';
import { sourceView } from './source-view.ts';
import { tensorView } from './tensor-view.ts';

export function stepsView(run: ForwardRun, layers: number): HTMLElement {
  const steps = forwardSteps(layers);
  let current = 0;
  const picker = el('select', { 'aria-label': 'step' }, ...steps.map((step, i) => el('option', { value: String(i) }, `${i + 1}. ${step.point}`)));
  const counter = el('span', { class: 'step-counter' });
  const body = el('div', { class: 'step-body' });

  const show = (index: number) => {
    current = Math.max(0, Math.min(steps.length - 1, index));
    const step = steps[current];
    picker.value = String(current);
    counter.textContent = `step ${current + 1} of ${steps.length}${step.layer === null ? '' : `, layer ${step.layer}`}`;
    renderInto(body, () => [tensorView(activationAt(run, step.point), step.point, step.spec.shape), sourceView(step)]);
  };
  picker.addEventListener('change', () => show(Number(picker.value)));
  const nextLayer = () => {
    const layer = steps[current].layer;
    const next = steps.findIndex((s, i) => i > current && s.layer !== layer);
    show(next < 0 ? steps.length - 1 : next);
  };
  show(0);
  return el(
    'section',
    { class: 'steps-view' },
    el('h3', {}, 'Forward pass, step by step'),
    el(
      'div',
      { class: 'step-controls' },
      button('◀ previous', () => show(current - 1), { 'data-action': 'previous-step' }),
      button('next ▶', () => show(current + 1), { 'data-action': 'next-step' }),
      button('next layer ▶▶', nextLayer, { 'data-action': 'next-layer' }),
      picker,
      counter,
    ),
    body,
  );
}
