// Running a golden case: what its kind asks (golden/FORMAT.md, "Cases"),
// compared tensor by tensor with FORMAT.md's rule. The outputs are kept under
// the expected tensors' names so they can be saved and checked independently.

import { Tensor } from '../tensor/tensor.ts';
import { noGrad } from '../autograd/tape.ts';
import type { TensorToWrite } from '../io/safetensors.ts';
import type { Module } from '../model/module.ts';
import { type Comparison, compareTensor } from './compare.ts';
import { type CaseKind, GoldenCase } from './case.ts';
import { ATTENTIONS_PREFIX, TRACE_PREFIX, maskFor, tracedPoint } from './trace.ts';
import type { ModelStore } from './model-store.ts';
import { generate } from '../generation/generate.ts';
import { AdamW } from '../train/optimizer.ts';

export interface CaseResult {
  name: string;
  kind: CaseKind;
  comparisons: Comparison[];
  /** Set when the case could not run at all (its kind is not built yet, a model is missing, ...). */
  error?: string;
  pass: boolean;
  /** Our outputs, under the expected tensors' names. */
  actual: TensorToWrite[];
}

type Outputs = Map<string, Tensor>;

/** What each kind computes, as named output tensors. */
const RUNNERS: Partial<Record<CaseKind, (c: GoldenCase, store: ModelStore) => Outputs>> = {
  causal_lm: (c, store) => {
    const model = store.get(c.description.model, 'causal_lm');
    // FORMAT v1.1: trace.<point> tensors are the activations at our hook points; attentions.<layer> the probabilities
    const traced = c.file.names().flatMap((name) => tracedPoint(name) ?? []);
    const { output, activations } = noGrad(() =>
      model.runWithCache(
        {
          inputIds: c.intInput('input_ids'),
          attentionMask: c.optionalIntInput('attention_mask'),
          labels: c.optionalIntInput('labels'),
          outputHiddenStates: true,
          outputAttentions: c.namesStartingWith(ATTENTIONS_PREFIX).length > 0,
        },
        traced,
      ),
    );
    const outputs: Outputs = new Map([['logits', output.logits]]);
    output.hiddenStates!.forEach((h, i) => outputs.set(`hidden_states.${i}`, h));
    output.attentions?.forEach((p, i) => outputs.set(`${ATTENTIONS_PREFIX}${i}`, p));
    for (const [point, activation] of activations) outputs.set(`${TRACE_PREFIX}${point}`, activation);
    if (output.loss) outputs.set('loss', output.loss);
    return outputs;
  },
  base_model: (c, store) => {
    const model = store.get(c.description.model, 'base_model');
    const out = noGrad(() => model.forward({ inputIds: c.intInput('input_ids'), attentionMask: c.optionalIntInput('attention_mask') }));
    return new Map([['last_hidden_state', out.lastHiddenState]]);
  },
  seq_cls: (c, store) => {
    const model = store.get(c.description.model, 'seq_cls');
    const out = noGrad(() => model.forward({ inputIds: c.intInput('input_ids'), attentionMask: c.optionalIntInput('attention_mask') }));
    return new Map([['logits', out.logits]]);
  },
  token_cls: (c, store) => {
    const model = store.get(c.description.model, 'token_cls');
    const out = noGrad(() => model.forward({ inputIds: c.intInput('input_ids'), attentionMask: c.optionalIntInput('attention_mask') }));
    return new Map([['logits', out.logits]]);
  },
  generate: (c, store) => {
    const model = store.get(c.description.model, 'causal_lm');
    const params = c.description.params as { max_new_tokens?: number; max_cache_len?: number };
    if (typeof params.max_new_tokens !== 'number') throw new Error('generate case without params.max_new_tokens');
    const result = generate(model, c.intInput('input_ids'), {
      maxNewTokens: params.max_new_tokens,
      maxCacheLen: params.max_cache_len,
      attentionMask: c.optionalIntInput('attention_mask'),
      returnStepLogits: true,
    });
    const B = result.sequences.length;
    const generated = Tensor.fromData(Int32Array.from(result.sequences.flat()), [B, result.sequences[0].length]);
    return new Map([
      ['generated_ids', generated],
      ['step_logits', result.stepLogits!],
    ]);
  },
  train: (c, store) => {
    // a fresh copy: training changes the weights, which the store shares between cases
    const model = store.fresh(c.description.model, 'causal_lm', 'float32');
    const params = c.description.params as { optimizer?: string; lr: number; betas: [number, number]; eps: number; weight_decay: number; steps: number };
    if (params.optimizer !== 'AdamW') throw new Error(`train case optimizer ${JSON.stringify(params.optimizer)} is not supported (AdamW is)`);
    const parameters = model.namedParameters();
    for (const [, p] of parameters) p.requireGrad();
    const optimizer = new AdamW(parameters.map(([, p]) => p), { lr: params.lr, betas: params.betas, eps: params.eps, weightDecay: params.weight_decay });
    const inputIds = c.intInput('input_ids');
    const labels = c.intInput('labels');
    const losses: number[] = [];
    for (let step = 0; step < params.steps; step++) {
      optimizer.zeroGrad();
      const { loss } = model.forward({ inputIds, labels });
      losses.push(loss!.item());
      loss!.backward();
      optimizer.step();
    }
    const outputs: Outputs = new Map([['losses', Tensor.fromData(Float32Array.from(losses), [losses.length])]]);
    for (const [name, p] of parameters) outputs.set(`final.${name}`, p.detach());
    return outputs;
  },
  grad: (c, store) => {
    const model = store.get(c.description.model, 'causal_lm', 'float32');
    return withGradients(model, () => {
      const { loss } = model.forward({ inputIds: c.intInput('input_ids'), attentionMask: c.optionalIntInput('attention_mask'), labels: c.intInput('labels') });
      return { loss: loss!, outputs: new Map() };
    });
  },
  seq_cls_grad: (c, store) => {
    const model = store.get(c.description.model, 'seq_cls', 'float32');
    // labels as stored: I64 class ids, or F64/F32 targets (regression, multi-label)
    return withGradients(model, () => {
      const { logits, loss } = model.forward({ inputIds: c.intInput('input_ids'), attentionMask: c.optionalIntInput('attention_mask'), labels: c.input('labels') });
      return { loss: loss!, outputs: new Map([['logits', logits]]) };
    });
  },
  token_cls_grad: (c, store) => {
    const model = store.get(c.description.model, 'token_cls', 'float32');
    return withGradients(model, () => {
      const { logits, loss } = model.forward({ inputIds: c.intInput('input_ids'), attentionMask: c.optionalIntInput('attention_mask'), labels: c.intInput('labels') });
      return { loss: loss!, outputs: new Map([['logits', logits]]) };
    });
  },
};

/**
 * Runs `forward` with every weight of `model` requiring a gradient, then
 * loss.backward(): its outputs plus `loss` and `grad.<weight name>` for every
 * weight (zeros for one the loss does not reach). The store shares the model
 * between cases, so the weights are left as they were found.
 */
function withGradients(model: Module, forward: () => { loss: Tensor; outputs: Outputs }): Outputs {
  const parameters = model.namedParameters();
  for (const [, p] of parameters) p.requireGrad().zeroGrad();
  try {
    const { loss, outputs } = forward();
    loss.backward();
    outputs.set('loss', loss.detach());
    for (const [name, p] of parameters) outputs.set(`grad.${name}`, p.grad ?? p.zerosLike());
    return outputs;
  } finally {
    for (const [, p] of parameters) p.requireGrad(false).zeroGrad();
  }
}

/** Outputs compared exactly (token ids), whatever the case's tolerance. */
const EXACT = new Set(['generated_ids']);

/** Runs one case against the models of `store` and compares every expected tensor. */
export function runGoldenCase(c: GoldenCase, store: ModelStore): CaseResult {
  const { name, kind, tolerance } = c.description;
  const result: CaseResult = { name, kind, comparisons: [], pass: false, actual: [] };
  const runner = RUNNERS[kind];
  if (runner === undefined) {
    result.error = `no runner for kind ${kind}`;
    return result;
  }
  let outputs: Outputs;
  try {
    outputs = runner(c, store);
  } catch (error) {
    result.error = `${(error as Error).name}: ${(error as Error).message}`;
    return result;
  }
  // the prompt's mask says nothing about generated positions
  const mask = c.has('attention_mask') && kind !== 'generate' ? c.expected('attention_mask') : undefined;
  const inputs = new Set(['input_ids', 'attention_mask', 'labels']);
  for (const expectedName of c.file.names().filter((n) => !inputs.has(n))) {
    const actual = outputs.get(expectedName);
    if (actual === undefined) {
      result.comparisons.push({ tensor: expectedName, maxError: Infinity, bound: 0, pass: false, note: 'not produced' });
      continue;
    }
    const data = actual.contiguousData();
    const exact = EXACT.has(expectedName);
    const positions = mask === undefined || exact ? undefined : maskFor(expectedName, mask);
    result.comparisons.push(compareTensor(expectedName, { shape: actual.shape, data }, c.expected(expectedName), exact ? { atol: 0, rtol: 0 } : tolerance, positions));
    result.actual.push(
      actual.dtype === 'int32'
        ? { name: expectedName, dtype: 'I64', shape: actual.shape, data: actual.contiguousData() as Int32Array }
        : { name: expectedName, dtype: 'F32', shape: actual.shape, data: Float32Array.from(data) },
    );
  }
  result.pass = result.comparisons.length > 0 && result.comparisons.every((r) => r.pass);
  return result;
}
