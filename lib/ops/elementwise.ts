// Runs an element-wise kernel on tensors with numpy broadcasting: the
// operands go to the kernel unexpanded whenever three boxed axes can describe
// the broadcast, and are materialised to the output shape only when they
// cannot (or when the output needs more than 2^24 cells along one axis).

import { Tensor } from '../tensor/tensor.ts';
import { broadcastShapes, numel, sameShape } from '../tensor/shape.ts';
import { type ElementwiseOp, planBroadcast, runElementwise, runElementwiseFlat } from '../../kernels/elementwise.ts';
import { expand } from './views.ts';

export function elementwise(op: ElementwiseOp, inputs: Tensor[], scalar?: number): Tensor {
  const outShape = broadcastShapes(op, ...inputs.map((t) => t.shape));
  if (numel(outShape) === 0) return Tensor.fromData(new Float32Array(0), outShape);
  const layout = planBroadcast(outShape, inputs.map((t) => t.shape));
  if (layout !== null) {
    const data = runElementwise(op, layout, inputs.map((t) => t.contiguousData()), scalar);
    return Tensor.fromData(data, outShape);
  }
  const full = inputs.map((t) => (sameShape(t.shape, outShape) ? t : expand(t.detach(), outShape)).contiguousData());
  return Tensor.fromData(runElementwiseFlat(op, full, scalar), outShape);
}
