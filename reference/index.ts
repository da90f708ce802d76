// The float64 reference ops, one file per op family.

export * from './tensor.ts';
export * from './elementwise.ts';
export * from './reduce.ts';
export * from './softmax.ts';
export * from './matmul.ts';
export * from './embedding.ts';
export * from './concat.ts';
export * from './cross-entropy.ts';
export * from './binary-cross-entropy.ts';
export * from './rms-norm.ts';
export * from './rope.ts';
export * from './views.ts';
export * from './dropout.ts';
export * from './attention.ts';
