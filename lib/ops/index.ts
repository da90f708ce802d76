// Every op of the tensor library, and the only door into lib/ops for the rest
// of the code. Each family file holds its ops' forwards (which launch kernels
// from kernels/); gradients.ts holds every gradient rule; registry.ts lists
// every op with its reference, rule and kernels. Importing this file attaches
// the chained methods (x.add(y), x.reshape(...)) and installs the gradient table.

import './gradients.ts';
import './tensor-methods.ts';

export { add, sub, mul, div, pow, neg, addScalar, mulScalar, powScalar, rsubScalar, rdivScalar, type Operand } from './arithmetic.ts';
export { sqrt, rsqrt, exp, log, tanh, geluTanh, softcap } from './unary.ts';
export { geluTanhMul } from './gated-gelu.ts';
export { sum, mean, max, argmax, logSumExp, sumToShape } from './reduce.ts';
export { softmax, logSoftmax } from './softmax.ts';
export { matmul, linear } from './matmul.ts';
export { linearSoftcap } from './linear-softcap.ts';
export { attention, attentionLimits, type AttentionOptions } from './attention.ts';
export { embedding } from './embedding.ts';
export { concat } from './concat.ts';
export { where, maskedFill } from './where.ts';
export { crossEntropy, type CrossEntropyOptions } from './cross-entropy.ts';
export { binaryCrossEntropyWithLogits, type BinaryCrossEntropyOptions } from './binary-cross-entropy.ts';
export { rmsNorm } from './rms-norm.ts';
export { rope } from './rope.ts';
export { dropout } from './dropout.ts';
export { reshape, permute, transpose, slice, narrow, expand, squeeze, unsqueeze, contiguous } from './views.ts';
export { copyFrom } from './in-place.ts';
export { expectFloat, expectInt, expectRank } from './check.ts';
export { GRADIENTS, type GradientOp } from './gradients.ts';
export { OP_REGISTRY, type OpEntry, type OpSample, type GradientDeclaration } from './registry.ts';
