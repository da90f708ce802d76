// Every op of the tensor library. Each file holds an op's forward (which
// launches kernels from kernels/) and, beside it, its backward rule.

export { add, sub, mul, div, pow, neg, addScalar, mulScalar, powScalar, rsubScalar, rdivScalar, type Operand } from './arithmetic.ts';
export { sqrt, rsqrt, exp, log, tanh, geluTanh, softcap } from './unary.ts';
export { sum, mean, max, argmax, logSumExp, sumToShape } from './reduce.ts';
export { softmax, logSoftmax } from './softmax.ts';
export { matmul, linear } from './matmul.ts';
export { embedding } from './embedding.ts';
export { concat } from './concat.ts';
export { where, maskedFill } from './where.ts';
export { crossEntropy, type CrossEntropyOptions } from './cross-entropy.ts';
export { binaryCrossEntropyWithLogits, type BinaryCrossEntropyOptions } from './binary-cross-entropy.ts';
export { rmsNorm } from './rms-norm.ts';
export { rope } from './rope.ts';
export { dropout } from './dropout.ts';
