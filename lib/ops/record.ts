// The tape's record(), typed by the gradient table: an op can record only a
// name the table has a rule for, with exactly the attrs that rule reads (an op
// whose rule reads none passes none). Same function, no wrapper.

import type { Tensor } from '../tensor/tensor.ts';
import { type GradientRule, record as recordOnTape } from '../autograd/tape.ts';
import type { GRADIENTS, GradientOp } from './gradients.ts';

/** What op `Op`'s forward hands its rule besides tensors. */
export type AttrsOf<Op extends GradientOp> = (typeof GRADIENTS)[Op] extends GradientRule<infer Attrs> ? Attrs : never;

export const record: <Op extends GradientOp>(
  output: Tensor,
  op: Op,
  inputs: Tensor[],
  ...attrs: AttrsOf<Op> extends undefined ? [] : [attrs: AttrsOf<Op>]
) => Tensor = recordOnTape;
