// The cascade order of kernels/sum-order.ts, emitted as WebAssembly: a loop
// over K terms that sums them in runs of 32 into v128 accumulators and folds
// each finished run into group, block and total sums, vector lane by lane.
//
//   done = 0; group = block = total = 0
//   while done < K:
//     end = min(done + 32, K); acc = 0
//     while done < end: <iteration: acc += the next `step` terms, in order>; done += step
//     group += acc
//     if done % 1024 == 0: block += group; group = 0; if done % 32768 == 0: total += block; block = 0
//   block += group; total += block          (the last run is already in group)
// (depth 0, K <= 32: just the inner loop; depth 1, K <= 1024: runs and groups.)
//
// A run's terms stay in the innermost loop as before (one multiply and one add
// each, in registers); the fold costs one add per accumulator every 32 terms,
// and leaving the innermost loop once per run (what that costs the matmul, and
// why 32: kernels/sum-order.ts). Kernels are built at three depths
// (cascadeDepth) so that a product that needs fewer levels does not pay for
// them. Written out without the loop (unrolled runs) or with the folds inside
// one loop, V8's code ran 2-3x slower, so the runs stay a loop of their own.

import { op } from './module-builder.ts';
import { CASCADE_FAN_IN } from '../sum-order.ts';

const get = op.localGet;
const set = op.localSet;

/**
 * How many levels above the runs a sum of K terms needs: none when it is one
 * run (K <= 32), the groups when it fits one group (K <= 1024), else groups,
 * blocks and the total. Every level left out would only add exact zeros, so
 * each depth gives the same bits as the full cascade for the K it serves,
 * while the short products (attention's, a decode step's) skip the folds.
 */
export type CascadeDepth = 0 | 1 | 3;
export const CASCADE_DEPTHS: CascadeDepth[] = [0, 1, 3];
export function cascadeDepth(terms: number): CascadeDepth {
  return terms <= CASCADE_FAN_IN ? 0 : terms <= CASCADE_FAN_IN ** 2 ? 1 : 3;
}

export interface CascadeLoop {
  /** i32 local (or parameter) holding K, the number of terms; a multiple of `step`. */
  terms: number;
  /** The levels this loop keeps: K must be at most what the depth serves (cascadeDepth). */
  depth: CascadeDepth;
  /** Terms each iteration adds to every accumulator, in order (a divisor of 32). */
  step: number;
  /** Two free i32 locals: terms done so far, and the end of the current run. */
  done: number;
  runEnd: number;
  /** The run's v128 accumulators; each iteration adds its terms into them. */
  accumulators: number[];
  /** `depth` free v128 locals per accumulator: [group] or [group, block, total]. */
  levels: number[][];
  /** One iteration: adds the next `step` terms to the accumulators and advances its pointers. */
  iteration: number[];
}

/** The local holding accumulator i's cascade sum after the loop. */
export function cascadeResult(spec: Pick<CascadeLoop, 'depth' | 'accumulators' | 'levels'>, i: number): number {
  return spec.depth === 0 ? spec.accumulators[i] : spec.levels[i][spec.depth - 1];
}

/** The loop (see the top of this file); afterwards cascadeResult names each sum's local. */
export function cascadeLoop(spec: CascadeLoop): number[] {
  const { terms, depth, step, done, runEnd, accumulators, levels, iteration } = spec;
  if (CASCADE_FAN_IN % step !== 0) throw new Error(`cascadeLoop: step ${step} must divide the run length ${CASCADE_FAN_IN}`);
  const addInto = (into: number, from: number) => [...get(into), ...get(from), ...op.f32x4Add, ...set(into)];
  /** The terms from `done` up to `end` into the accumulators. */
  const termsUpTo = (end: number) => [
    ...op.blockLoop, ...get(done), ...get(end), ...op.i32GeU, ...op.breakIfOutOfLoop,
    ...iteration,
    ...get(done), ...op.i32Const(step), ...op.i32Add, ...set(done), ...op.continueLoop, ...op.end, ...op.end,
  ];
  const code: number[] = [...op.i32Const(0), ...set(done)];
  if (depth === 0) {
    // one run: the plain loop
    for (const acc of accumulators) code.push(...op.v128Zero, ...set(acc));
    return [...code, ...termsUpTo(terms)];
  }
  for (const level of levels) for (const local of level) code.push(...op.v128Zero, ...set(local));
  // runs
  code.push(...op.blockLoop, ...get(done), ...get(terms), ...op.i32GeU, ...op.breakIfOutOfLoop);
  // end = min(done + 32, K)
  code.push(...get(done), ...op.i32Const(CASCADE_FAN_IN), ...op.i32Add, ...op.localTee(runEnd), ...get(terms), ...get(runEnd), ...get(terms), ...op.i32LtU, ...op.select, ...set(runEnd));
  for (const acc of accumulators) code.push(...op.v128Zero, ...set(acc));
  code.push(...termsUpTo(runEnd));
  // fold the run into its group, a full group into its block, a full block into the total
  accumulators.forEach((acc, i) => code.push(...addInto(levels[i][0], acc)));
  if (depth === 3) {
    const everyTerms = (n: number) => [...get(done), ...op.i32Const(n - 1), ...op.i32And, ...op.i32Eqz];
    code.push(...everyTerms(CASCADE_FAN_IN ** 2), ...op.ifThen);
    levels.forEach(([group, block]) => code.push(...addInto(block, group), ...op.v128Zero, ...set(group)));
    code.push(...everyTerms(CASCADE_FAN_IN ** 3), ...op.ifThen);
    levels.forEach(([, block, total]) => code.push(...addInto(total, block), ...op.v128Zero, ...set(block)));
    code.push(...op.end, ...op.end);
  }
  code.push(...op.continueLoop, ...op.end, ...op.end);
  // total + (block + group)
  if (depth === 3) levels.forEach(([group, block, total]) => code.push(...addInto(block, group), ...addInto(total, block)));
  return code;
}
