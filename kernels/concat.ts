// Concatenation of two contiguous tensors along one axis. Both are viewed as
// [outer, length, inner]; the output box is [inner, lengthA + lengthB, outer]
// and each thread copies from whichever input owns its position on the axis.

import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch } from './launch.ts';

function concatPair(this: any, A: number[][][], B: number[][][]): number {
  if (this.thread.y < this.constants.lengthA) {
    return A[this.thread.z][this.thread.y][this.thread.x];
  }
  return B[this.thread.z][this.thread.y - this.constants.lengthA][this.thread.x];
}

export function runConcatPair(a: TypedData, b: TypedData, outer: number, lengthA: number, lengthB: number, inner: number): Float32Array {
  return launch({
    name: 'concat.pair',
    source: concatPair,
    output: [inner, lengthA + lengthB, outer],
    args: [boxed(a, [inner, lengthA, outer]), boxed(b, [inner, lengthB, outer])],
    constants: { lengthA },
  });
}
