// Gradient checkpointing (Chen et al., 2016, "Training deep nets with
// sublinear memory cost"), as torch.utils.checkpoint does it for Transformers'
// gradient_checkpointing_enable(): a checkpointed function runs once without
// recording, so none of its intermediate activations are kept, and backward
// runs it again with recording on to get them back.
//
//   forward:  y = fn(x)                 untraced; the tape keeps x only
//   backward: y' = fn(x') from x' = x.detach(), recorded; backward(y', dy);
//             dx = x'.grad, and every parameter fn read gets its gradient
//
// The checkpoint is one node on the tape whose inputs are fn's inputs and
// every parameter (leaf requiring a gradient) its ops read in the first pass:
// the adapters of LoRA too, which no module lists. Its rule swaps each
// parameter's .grad out while the recomputation backpropagates, returns what
// arrived as that parameter's gradient, and the outer backward accumulates it
// as it would the op's own: the same ops in the same order, so the gradients
// are bit-identical to a run without checkpointing.
//
// Random draws: dropout notes each generator it draws from (noteRandomDraw)
// while a first pass runs; the recomputation starts those generators from the
// states they had then and puts them back afterwards (PyTorch's
// preserve_rng_state), so it draws the same masks and leaves the streams
// where the forward left them. The recomputed output is compared with the
// first pass's; a function that does not repeat itself (a random source not
// noted here, a switch flipped between forward and backward) is an error, not
// a silently wrong gradient.

import type { Tensor } from '../tensor/tensor.ts';
import { zeros } from '../tensor/creation.ts';
import type { Generator } from '../tensor/random.ts';
import { withArena } from '../tensor/arena.ts';
import { formatShape, sameShape } from '../tensor/shape.ts';
import { type RecordedForward, GradientError, backward, enableGrad, isGradEnabled, record, registerGradientRule, runUntraced } from './tape.ts';

type GeneratorState = ReturnType<Generator['getState']>;

interface CheckpointAttrs {
  readonly fn: (...inputs: Tensor[]) => Tensor;
  /** The node's first `argumentCount` inputs are fn's arguments; the rest are the parameters it read. */
  readonly argumentCount: number;
  /** Each generator fn drew from in its first pass, with its state before the first draw. */
  readonly randomStates: ReadonlyMap<Generator, GeneratorState>;
}

/** While a first pass runs: the generators drawn from so far, each with its state before its first draw. */
let randomDraws: Map<Generator, GeneratorState> | null = null;

/**
 * Called by every op that draws random numbers (dropout), before it draws:
 * inside a checkpoint's first pass, remembers where `generator` stood.
 */
export function noteRandomDraw(generator: Generator): void {
  if (randomDraws !== null && !randomDraws.has(generator)) randomDraws.set(generator, generator.getState());
}

/**
 * fn(...inputs), keeping none of fn's intermediate activations for backward:
 * backward runs fn again. fn must compute the same values when run again
 * (checked), read tensors requiring a gradient only through `inputs` or as
 * parameters (leaves), and draw random numbers only through ops that call
 * noteRandomDraw. Without gradient recording it is a plain call.
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[]): Tensor {
  if (!isGradEnabled()) return fn(...inputs);
  const randomStates = new Map<Generator, GeneratorState>();
  const outerDraws = randomDraws;
  randomDraws = randomStates;
  let firstPass: { result: Tensor; readsRequiringGrad: Tensor[] };
  try {
    // Nothing made inside outlives the pass but its output (no tape), so the pass may reuse arrays (lib/tensor/arena.ts).
    firstPass = runUntraced(() => withArena(() => fn(...inputs), (output) => [output]));
  } finally {
    randomDraws = outerDraws;
  }
  const output = firstPass.result;
  if (output.requiresGrad) {
    throw new GradientError(`checkpoint: the function returned a tensor that already requires a gradient (shape ${formatShape(output.shape)}: one of its inputs or a parameter); there is nothing to checkpoint`);
  }
  const parameters = firstPass.readsRequiringGrad.filter((t) => !inputs.includes(t));
  for (const t of parameters) {
    if (t.gradNode !== null) {
      throw new GradientError(
        `checkpoint: the function reads a tensor of shape ${formatShape(t.shape)} computed by ${t.gradNode.op} outside it, which requires a gradient; ` +
          'pass it in the inputs, so that its gradient flows through the checkpoint',
      );
    }
  }
  const attrs: CheckpointAttrs = { fn, argumentCount: inputs.length, randomStates };
  return record(output, 'checkpoint', [...inputs, ...parameters], attrs);
}

/** The checkpoint's rule: run fn again with recording on, backpropagate `gradOutput` through it, return what reached each input. */
function recompute(gradOutput: Tensor, { inputs, output, attrs }: RecordedForward<CheckpointAttrs>): (Tensor | null)[] {
  const { fn, argumentCount, randomStates } = attrs;
  const args = inputs.slice(0, argumentCount).map((x) => (x.requiresGrad ? x.detach().requireGrad() : x));
  const parameters = inputs.slice(argumentCount);
  const heldGrads = parameters.map((p) => p.grad);
  const streamStates = [...randomStates.keys()].map((g) => g.getState());
  try {
    for (const p of parameters) p.grad = null;
    for (const [generator, state] of randomStates) generator.setState(state);
    const again = enableGrad(() => fn(...args));
    checkRepeated(output, again);
    backward(again, gradOutput);
    const argumentGrads = args.map((arg, k) => (inputs[k].requiresGrad ? (arg.grad ?? zeros([...arg.shape])) : null));
    const parameterGrads = parameters.map((p) => {
      if (p.grad === null) throw new GradientError(`checkpoint: the recomputation did not reach a parameter of shape ${formatShape(p.shape)} that the first pass read`);
      return p.grad;
    });
    return [...argumentGrads, ...parameterGrads];
  } finally {
    parameters.forEach((p, i) => (p.grad = heldGrads[i]));
    [...randomStates.keys()].forEach((g, i) => g.setState(streamStates[i]));
  }
}

/** The recomputation must give the first pass's output exactly: otherwise the gradients would belong to another function. */
function checkRepeated(first: Tensor, again: Tensor): void {
  if (!sameShape(first.shape, again.shape) || first.dtype !== again.dtype) {
    throw new GradientError(`checkpoint: the recomputation gave ${again.dtype} ${formatShape(again.shape)}, the first pass ${first.dtype} ${formatShape(first.shape)}`);
  }
  const a = first.contiguousData();
  const b = again.contiguousData();
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) {
      throw new GradientError(
        `checkpoint: the recomputation differs from the first pass at element ${i} (${b[i]} against ${a[i]}): the checkpointed function must compute the same values when run again ` +
          '(draw random numbers through dropout, and change no setting between forward and backward)',
      );
    }
  }
}

registerGradientRule<CheckpointAttrs>('checkpoint', { saves: 'every input', backward: recompute });
