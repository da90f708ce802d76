// gemma2-ts: the public API of the tensor library.

export { Tensor, type NestedArray } from './tensor/tensor.ts';
export { type DType } from './tensor/dtype.ts';
export { ShapeError, broadcastShapes, formatShape, type Shape } from './tensor/shape.ts';
export { full, zeros, ones, arange, randn, uniform, randint, tensor, type CreationOptions, type RandomOptions } from './tensor/creation.ts';
export { Generator, manualSeed } from './tensor/random.ts';
export { noGrad, isGradEnabled, backward, GradientError } from './autograd/tape.ts';
export * from './ops/index.ts';
export {
  setBackend,
  resetBackend,
  currentBackend,
  describeBackend,
  availableBackends,
  withBackend,
  BackendError,
  BACKENDS,
  type BackendName,
} from '../kernels/backend.ts';
export { kernelStats, resetKernelStats, clearKernelCache, KernelLimitError, MAX_KERNEL_AXIS } from '../kernels/launch.ts';
