// The autograd tape, micrograd-style: every differentiable op that sees an
// input with requiresGrad attaches a GradNode to its output. backward() sorts
// the graph topologically and walks it in reverse, calling each node's
// backward rule once with the summed gradient of its output.

import type { Tensor } from '../tensor/tensor.ts';
import { formatShape, sameShape } from '../tensor/shape.ts';

/**
 * A rule returns one gradient per input, in input order. `null` means "no
 * gradient flows to this input", which is only allowed for inputs that do not
 * require a gradient (integer ids, masks, constants); anything else is an error
 * naming the op, never a silent zero.
 */
export type BackwardRule = (gradOutput: Tensor) => (Tensor | null)[];

export interface GradNode {
  op: string;
  inputs: Tensor[];
  backward: BackwardRule;
}

export class GradientError extends Error {
  override name = 'GradientError';
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording anything on the tape (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Attaches `backward` to `output` when gradients are being recorded and some
 * input requires one. Returns `output` so ops can `return record(...)`.
 */
export function record(output: Tensor, op: string, inputs: Tensor[], backward: BackwardRule): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return output;
  output.requiresGrad = true;
  output.gradNode = { op, inputs, backward };
  return output;
}

/** Tensors reachable from `root` through grad nodes, parents before children. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: a deep model would overflow the call stack with recursion.
  const stack: { tensor: Tensor; expanded: boolean }[] = [{ tensor: root, expanded: false }];
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (top.expanded) {
      order.push(top.tensor);
      continue;
    }
    if (visited.has(top.tensor)) continue;
    visited.add(top.tensor);
    stack.push({ tensor: top.tensor, expanded: true });
    for (const input of top.tensor.gradNode?.inputs ?? []) {
      if (input.requiresGrad && !visited.has(input)) stack.push({ tensor: input, expanded: false });
    }
  }
  return order;
}

export interface BackwardOptions {
  /** Keep the grad nodes so backward can run through the graph again. */
  retainGraph?: boolean;
}

/** Drops a node's inputs so memory can be reclaimed; running it again is an error. */
function freeNode(node: GradNode): void {
  node.inputs = [];
  node.backward = () => {
    throw new GradientError(`${node.op}: backward through this graph a second time; its nodes were freed (pass { retainGraph: true } to the first backward)`);
  };
}

/**
 * Accumulates d(root)/d(leaf) into `leaf.grad` for every leaf with
 * requiresGrad. `root` must be a scalar unless `gradient` (d(loss)/d(root)) is
 * given. Leaf gradients add to whatever is already in `.grad`, as in PyTorch.
 */
export function backward(root: Tensor, gradient?: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new GradientError('backward: the tensor does not require a gradient (no input of the computation had requiresGrad)');
  }
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new GradientError(`backward: gradient can be implied only for a scalar, got shape ${formatShape(root.shape)}; pass the gradient explicitly`);
    }
    gradient = root.onesLike();
  } else if (!sameShape(gradient.shape, root.shape)) {
    throw new GradientError(`backward: gradient shape ${formatShape(gradient.shape)} does not match the tensor shape ${formatShape(root.shape)}`);
  }

  const grads = new Map<Tensor, Tensor>([[root, gradient]]);
  const order = topologicalOrder(root);
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const tensor = order[i];
      const grad = grads.get(tensor);
      if (grad === undefined) continue;
      grads.delete(tensor); // free intermediate gradients as soon as they are used
      const node = tensor.gradNode;
      if (node === null) {
        tensor.grad = tensor.grad === null ? grad.contiguous() : tensor.grad.add(grad);
        continue;
      }
      const inputGrads = node.backward(grad);
      node.inputs.forEach((input, k) => {
        if (!input.requiresGrad) return;
        const g = inputGrads[k];
        if (g === null || g === undefined) {
          throw new GradientError(`${node.op}: no gradient rule for input ${k} (shape ${formatShape(input.shape)}), which requires a gradient`);
        }
        if (!sameShape(g.shape, input.shape) || g.dtype !== 'float32') {
          throw new GradientError(
            `${node.op}: backward produced a ${g.dtype} gradient of shape ${formatShape(g.shape)} for input ${k} of shape ${formatShape(input.shape)}`,
          );
        }
        const previous = grads.get(input);
        grads.set(input, previous === undefined ? g : previous.add(g));
      });
      if (!options.retainGraph) freeNode(node);
    }
  });
}
