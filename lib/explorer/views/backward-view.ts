// The backward pass and one training step (backward-step.ts): pick the token
// the model should predict after the prompt, see the loss and every gradient
// norm (weights, and hook points: how much each activation matters to the
// loss), then take one AdamW step and see the loss change. The weights are
// put back after the step unless the reader asks to keep them.

import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';
import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';
import { argmax } from '../../generation/sampling.ts';
import { backwardPass, trainingStep } from './backward-step.ts';
import { bars } from './charts.ts';
import { button, el, formatNumber, renderInto } from './dom.ts';
import { parseIds, tokenLabel } from './prompt.ts';

/** The target typed in the box: a token id, or with a tokenizer a token string ("▁the"). */
function targetOf(text: string, model: Gemma2ForCausalLM, tokenizer: HfTokenizer | null): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return parseIds(trimmed, model.config.vocabSize)[0];
  const id = tokenizer?.tokenToId(trimmed) ?? null;
  if (id === null) throw new Error(`backward: "${trimmed}" is neither a token id nor a token of the vocabulary`);
  return id;
}

/** `lastLogits`: the model's logits at the last prompt position (the default target is its top token). */
export function backwardView(model: Gemma2ForCausalLM, prompt: readonly number[], lastLogits: ArrayLike<number>, tokenizer: HfTokenizer | null): HTMLElement {
  const target = el('input', { type: 'text', value: String(argmax(lastLogits)), size: '10', 'data-control': 'target' });
  const rate = el('input', { type: 'number', value: '0.0001', step: '0.0001', min: '0', 'data-control': 'learning-rate' });
  const keep = el('input', { type: 'checkbox', 'data-control': 'keep-weights' });
  const gradients = el('div', { class: 'backward-body' });
  const stepResult = el('div', { class: 'training-step-body' });

  const backward = () =>
    renderInto(gradients, () => {
      const id = targetOf(target.value, model, tokenizer);
      const r = backwardPass(model, prompt, id);
      return [
        el('p', { class: 'loss' }, `loss = -log p(${tokenLabel(id, tokenizer)} | prompt) = ${formatNumber(r.loss)}`),
        el('div', { class: 'gradient-columns' },
          el('figure', {}, el('figcaption', {}, 'gradient norm of every hook point (attribution: d loss / d activation)'), bars(r.activations.map((a) => ({ label: a.name, value: a.norm })), 'hook point gradient norms')),
          el('figure', {}, el('figcaption', {}, 'gradient norm of every weight'), bars(r.weights.map((w) => ({ label: w.name, value: w.norm })), 'weight gradient norms')),
        ),
      ];
    });
  const step = () =>
    renderInto(stepResult, () => {
      const id = targetOf(target.value, model, tokenizer);
      const r = trainingStep(model, prompt, id, { lr: Number(rate.value) }, keep.checked);
      return [
        el('p', { class: 'loss-change' }, `one AdamW step (lr ${rate.value}): loss ${formatNumber(r.lossBefore)} → ${formatNumber(r.lossAfter)} (${formatNumber(r.lossAfter - r.lossBefore)})`),
        // AdamW's first step: m_hat = g and v_hat = g^2, so each weight moves by lr * g / (|g| + eps), about lr
        el('p', {}, 'A first AdamW step moves every weight with a gradient by about lr (m_hat / sqrt(v_hat) = g / |g|), however small its gradient: a large lr overshoots and the loss can rise.'),
        el('p', {}, keep.checked ? 'The stepped weights were kept: the page\'s model has changed (reload the model to undo). The views above still show the old weights: press "run" to recompute them.' : 'The weights were restored after the step: the page\'s model is unchanged.'),
        el('figure', {}, el('figcaption', {}, 'how far each weight moved: ||w_after - w_before||'), bars(r.updates.map((u) => ({ label: u.name, value: u.norm })), 'weight updates')),
      ];
    });
  return el(
    'section',
    { class: 'backward-view' },
    el('h3', {}, 'Backward pass and a training step'),
    el('p', {}, 'GEMMA2.md, "Heads and loss" and "AdamW, as PyTorch computes it": the loss is the cross-entropy of the last position\'s logits against the target token.'),
    el('div', { class: 'backward-controls' },
      el('label', {}, 'target token (id or token) ', target),
      button('backward', backward, { 'data-action': 'backward' }),
      el('label', {}, ' learning rate ', rate),
      el('label', {}, ' keep the new weights ', keep),
      button('one AdamW step', step, { 'data-action': 'adamw-step' }),
    ),
    stepResult,
    gradients,
  );
}
