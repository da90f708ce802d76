// Generating token by token (greedy) with a HybridCache, and its slots after
// each step: the sliding layers' ring (position p in slot p mod window, so it
// wraps and overwrites the oldest) and the global layers' slots filling up.

import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';
import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';
import { button, el, renderInto } from './dom.ts';
import { tokenLabel } from './prompt.ts';
import { StepwiseGeneration } from './stepwise-generation.ts';

/** One box per slot: its index, the position it holds and that position's token. */
function slotRow(title: string, positions: Int32Array, sequence: readonly number[], newest: number, tokenizer: HfTokenizer | null, nextSlot = -1): HTMLElement {
  return el(
    'div',
    { class: 'cache-slots' },
    el('h4', {}, title),
    el(
      'ol',
      { class: 'slots', start: '0' },
      ...Array.from(positions, (position, slot) => {
        const classes = ['slot', position < 0 ? 'empty' : 'filled', position === newest ? 'newest' : '', slot === nextSlot ? 'next' : ''].filter(Boolean).join(' ');
        return el('li', { class: classes, title: `slot ${slot}` }, el('small', {}, `slot ${slot}`), el('br'), position < 0 ? '—' : `p${position} ${tokenLabel(sequence[position], tokenizer)}`);
      }),
    ),
  );
}

export function cacheView(model: Gemma2ForCausalLM, prompt: readonly number[], tokenizer: HfTokenizer | null): HTMLElement {
  const config = model.config;
  const newTokensInput = el('input', { type: 'number', min: '1', max: '256', value: String(Math.max(4, config.slidingWindow)), 'data-control': 'new-tokens' });
  const body = el('div', { class: 'cache-body' });
  let generation: StepwiseGeneration | null = null;

  // the panel's content now; an action runs first, so its error replaces the panel (renderInto)
  const content = () => {
    if (generation === null) return el('p', {}, 'Press "start" to make a cache for the prompt and the new tokens.');
    const g = generation;
    const slots = g.slots();
    const newest = g.cache.length - 1;
    const text = g.sequence.map((id, p) => el('span', { class: p < g.promptLength ? 'prompt-token' : 'new-token' }, tokenLabel(id, tokenizer)));
    return [
      el('p', { class: 'sequence' }, ...text),
      el('p', {}, `${g.cache.length} of ${g.cache.maxCacheLen} positions cached; ${g.generated} tokens generated${g.finished ? '; the last is an end token (eos_token_id), where generation stops' : ''}.`),
      slots.sliding.length > 0 ? slotRow(`sliding layers: a ring of ${slots.sliding.length} slots (position p in slot p mod ${slots.sliding.length}); next write at slot ${slots.nextRingSlot}`, slots.sliding, g.sequence, newest, tokenizer, slots.nextRingSlot) : null,
      slotRow(`global layers: ${slots.global.length} slots, position p in slot p`, slots.global, g.sequence, newest, tokenizer),
    ];
  };
  const act = (action: () => void) =>
    renderInto(body, () => {
      action();
      return content();
    });
  const start = () =>
    act(() => {
      generation = new StepwiseGeneration(model, prompt, Number(newTokensInput.value));
    });
  const next = () =>
    act(() => {
      generation ??= new StepwiseGeneration(model, prompt, Number(newTokensInput.value));
      generation.step();
    });
  act(() => undefined);
  return el(
    'section',
    { class: 'cache-view' },
    el('h3', {}, 'Generation and the HybridCache'),
    el('p', {}, 'GEMMA2.md, "HybridCache": greedy decoding, one forward per token; the first forward writes the whole prompt.'),
    el('div', { class: 'cache-controls' }, el('label', {}, 'new tokens ', newTokensInput), button('start', start, { 'data-action': 'cache-start' }), button('next token ▶', next, { 'data-action': 'cache-next' })),
    body,
  );
}
