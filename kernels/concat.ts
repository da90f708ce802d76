// Concatenation of two contiguous tensors along one axis. Both are viewed as
// [outer, length, inner]; the output box is [inner, lengthA + lengthB, outer]
// and each thread copies from whichever input owns its position on the axis.
// On the CPU path: block copies (memcpy), faster than any kernel, which must
// first copy its inputs in.

import { outputArray } from '../lib/tensor/arena.ts';
import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';

function concatPair(this: any, A: number[][][], B: number[][][]): number {
  if (this.thread.y < this.constants.lengthA) {
    return A[this.thread.z][this.thread.y][this.thread.x];
  }
  return B[this.thread.z][this.thread.y - this.constants.lengthA][this.thread.x];
}

const concatPairKernel = defineKernel({
  name: 'concat.pair',
  gpujs: (a: TypedData, b: TypedData, outer: number, lengthA: number, lengthB: number, inner: number) =>
    launch({
      name: 'concat.pair',
      source: concatPair,
      output: [inner, lengthA + lengthB, outer],
      args: [boxed(a, [inner, lengthA, outer]), boxed(b, [inner, lengthB, outer])],
      constants: { lengthA },
    }),
  cpu: {
    kind: 'host-copy',
    run: (a: TypedData, b: TypedData, outer: number, lengthA: number, lengthB: number, inner: number) => {
      const out = outputArray(outer * (lengthA + lengthB) * inner); // both blocks of every row are copied in
      const [blockA, blockB] = [lengthA * inner, lengthB * inner];
      for (let o = 0; o < outer; o++) {
        out.set(a.subarray(o * blockA, (o + 1) * blockA), o * (blockA + blockB));
        out.set(b.subarray(o * blockB, (o + 1) * blockB), o * (blockA + blockB) + blockA);
      }
      return out;
    },
  },
  agreement: 'same-bits', // values are moved, not computed
});

/** a [outer, lengthA, inner] and b [outer, lengthB, inner] joined along the middle axis. */
export function runConcatPair(a: TypedData, b: TypedData, outer: number, lengthA: number, lengthB: number, inner: number): Float32Array {
  return concatPairKernel(a, b, outer, lengthA, lengthB, inner);
}
