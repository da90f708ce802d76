// One forward pass of the prompt with every hook point kept
// (model.runWithCache), without gradients: what the step-through, the
// attention view, the residual-norm chart and the logit lens read.

import { Tensor } from '../../tensor/tensor.ts';
import { noGrad } from '../../autograd/tape.ts';
import type { Gemma2ForCausalLM } from '../../model/causal-lm.ts';

export interface ForwardRun {
  ids: number[];
  /** Every hook point's activation, in forward order. */
  activations: Map<string, Tensor>;
  /** [1, T, V], the model's own output. */
  logits: Tensor;
}

/** The ids as the model's [1, T] int32 input. */
export function idsTensor(ids: readonly number[]): Tensor {
  return Tensor.fromData(Int32Array.from(ids), [1, ids.length]);
}

export function runForward(model: Gemma2ForCausalLM, ids: readonly number[]): ForwardRun {
  if (ids.length === 0) throw new Error('explorer: the prompt has no tokens');
  const { output, activations } = noGrad(() => model.runWithCache({ inputIds: idsTensor(ids) }));
  return { ids: [...ids], activations, logits: output.logits };
}

/** The activation at `point`; throws naming the point when the run did not keep it. */
export function activationAt(run: ForwardRun, point: string): Tensor {
  const activation = run.activations.get(point);
  if (activation === undefined) throw new Error(`explorer: the forward run kept no activation at "${point}"`);
  return activation;
}

/** sqrt(sum h^2) of each position's residual-stream vector after every layer (resid_post): [layer][position]. */
export function residualNorms(run: ForwardRun, layers: number): number[][] {
  return Array.from({ length: layers }, (_, layer) => {
    const h = activationAt(run, `layers.${layer}.resid_post`); // [1, T, H]
    const [, T, H] = h.shape;
    const data = h.floatData();
    return Array.from({ length: T }, (_, t) => {
      let squares = 0;
      for (let i = t * H; i < (t + 1) * H; i++) squares += data[i] * data[i];
      return Math.sqrt(squares);
    });
  });
}
