// What the autograd tape attaches to a tensor an op computed. Declared here,
// beside the Tensor that holds it, so that the tensor never imports autograd:
// lib/autograd writes these nodes (record) and reads them (backward).

import type { Tensor } from './tensor.ts';

export interface GradNode {
  /** The op's name: its key in the gradient table (lib/ops/gradients.ts). */
  readonly op: string;
  /** The op's tensor inputs, in order; emptied once backward has used the node. */
  inputs: readonly Tensor[];
  /** The tensor the op computed (the one holding this node). */
  readonly output: Tensor;
  /** What the forward hands its gradient rule besides tensors (axes, scalars, host arrays); null once freed. */
  attrs: unknown;
  /** The versions of the tensors the rule saves, in the order of its `saves`, when the op was recorded. */
  readonly savedVersions: readonly number[];
  /** True once backward has run through the node and dropped what it held (no retainGraph). */
  freed: boolean;
}
