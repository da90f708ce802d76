// The source lines of lib/model/*.ts that computed a step, the hook call's
// line marked, and the GEMMA2.md formula beside them.

import { el } from './dom.ts';
import { MODEL_SOURCES } from './model-sources.ts';
import { sourceOfPoint } from './source-lines.ts';
import type { ForwardStep } from './steps.ts';

export function sourceView(step: ForwardStep): HTMLElement {
  const excerpt = sourceOfPoint(step.point, MODEL_SOURCES);
  const lines = excerpt.lines.map((text, i) => {
    const number = excerpt.firstLine + i;
    return el('div', { class: number === excerpt.line ? 'source-line hook-line' : 'source-line' }, el('span', { class: 'line-number' }, String(number).padStart(4)), ` ${text}`);
  });
  return el(
    'section',
    { class: 'source-view' },
    el('h4', {}, 'GEMMA2.md, ', el('em', {}, `"${step.section}"`), `, step ${step.spec.step}`),
    el('pre', { class: 'formula' }, step.formula),
    el('h4', {}, `lib/model/${excerpt.file}:${excerpt.line}`),
    el('pre', { class: 'source' }, ...lines),
  );
}
