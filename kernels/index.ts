// Every kernel family. Importing this registers every kernel of
// kernels/registry.ts (each family file registers its own kernels when it is
// imported); the ops import the families they launch.

export * from './backend.ts';
export { registeredKernels, kernelNames, kernelDefinition, runKernelOn, type KernelDefinition, type Agreement, type CpuKind } from './registry.ts';
export { kernelStats, resetKernelStats, clearKernelCache, KernelLimitError, MAX_KERNEL_AXIS } from './launch.ts';
export { runElementwise, runElementwiseFlat, planBroadcast, ELEMENTWISE_FORMULAS, type ElementwiseOp, type BroadcastLayout } from './elementwise.ts';
export { runReduction, REDUCTIONS, type Reduction } from './reduce.ts';
export { runRmsNorm, runRmsNormBackward, RMS_NORM, type RmsNormForward, type RmsNormBackward } from './rms-norm.ts';
export { runGeluTanhMulBackward } from './gated-gelu.ts';
export { runSoftmaxRows, runSoftmaxBackwardRows } from './softmax.ts';
export { runAttentionRows } from './attention.ts';
export { runMatmul, runLinearSoftcap, MATMUL_LAYOUTS, type MatmulLayout, type MatmulDims } from './matmul.ts';
export { runEmbeddingGather, runEmbeddingScatter } from './embedding.ts';
export { runConcatPair } from './concat.ts';
export { runCrossEntropyGrad } from './cross-entropy.ts';
export { runRope, ROPE_FORMULAS, type RopeDims } from './rope.ts';
export { runAdamW, runSgd, ADAMW, SGD, type AdamWStep, type SgdStep } from './optimizer.ts';
export { TOLERANCES, type Tolerance } from './tolerances.ts';
