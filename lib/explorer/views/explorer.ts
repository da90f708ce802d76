// The explorer's views, mounted by the page shell (lib/explorer/main.ts):
// a prompt box and its tokens, then for the prompt's forward pass the
// step-through, the attention view, the residual norms, the logit lens, the
// next-token distribution, generation with the cache's slots, and the
// backward pass with a training step.

import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';
import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';
import { attentionView } from './attention-view.ts';
import { backwardView } from './backward-view.ts';
import { cacheView } from './cache-view.ts';
import { distributionView } from './distribution-view.ts';
import { button, el, renderInto } from './dom.ts';
import { runForward } from './forward-run.ts';
import { logitLensView } from './logit-lens-view.ts';
import { defaultPrompt, promptIds, tokenLabel } from './prompt.ts';
import { residualNormView } from './residual-norm-view.ts';
import { stepsView } from './steps-view.ts';
import './explorer.css';

export interface ExplorerContext {
  model: Gemma2ForCausalLM;
  tokenizer: HfTokenizer | null;
  backendName: string;
}

export function mountExplorer(root: HTMLElement, ctx: ExplorerContext): void {
  const { model, tokenizer } = ctx;
  const start = defaultPrompt(tokenizer, model.config.vocabSize);
  const promptBox = el('textarea', { rows: '2', cols: '60', 'data-control': 'prompt' });
  promptBox.value = start.text;
  const asIds = el('input', { type: 'checkbox', 'data-control': 'prompt-as-ids' });
  asIds.checked = start.asIds;
  if (tokenizer === null) asIds.disabled = true;
  const tokens = el('div', { class: 'tokens' });
  const views = el('div', { class: 'explorer-views' });

  const run = () => {
    renderInto(tokens, () => {
      const ids = promptIds(promptBox.value, tokenizer, model.config.vocabSize, asIds.checked);
      const started = performance.now();
      const forward = runForward(model, ids);
      const milliseconds = performance.now() - started;
      const V = model.config.vocabSize;
      const lastLogits = forward.logits.floatData().slice((ids.length - 1) * V, ids.length * V);
      const layers = model.config.numHiddenLayers;
      renderInto(views, () => [
        stepsView(forward, layers),
        attentionView(model.config, forward, tokenizer),
        residualNormView(forward, layers, tokenizer),
        logitLensView(model, forward, tokenizer),
        distributionView(lastLogits, tokenizer),
        cacheView(model, ids, tokenizer),
        backwardView(model, ids, lastLogits, tokenizer),
      ]);
      return [
        el('ol', { class: 'token-list', start: '0' }, ...ids.map((id) => el('li', { title: `id ${id}` }, el('code', {}, tokenLabel(id, tokenizer)), el('small', {}, ` ${id}`)))),
        el('p', { class: 'forward-time' }, `${ids.length} tokens; forward with every hook point kept: ${milliseconds.toFixed(1)} ms on ${ctx.backendName}`),
      ];
    });
  };

  root.replaceChildren(
    el(
      'section',
      { class: 'prompt' },
      el('h3', {}, 'Prompt'),
      promptBox,
      el('div', {}, el('label', {}, asIds, ' token ids (numbers separated by spaces)'), ' ', button('run', run, { 'data-action': 'run-prompt' })),
      tokens,
    ),
    views,
  );
  run();
}
