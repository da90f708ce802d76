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
//
// A run's terms stay in the innermost loop as before (one multiply and one add
// each, in registers); the fold costs one add per accumulator every 32 terms.
// Measured on the SIMD matmul (npm run bench:ops, one thread, B resident):
// see kernels/sum-order.ts for the choice of 32.

import { op } from './module-builder.ts';
import { CASCADE_FAN_IN } from '../sum-order.ts';

const get = op.localGet;
const set = op.localSet;

export interface CascadeLoop {
  /** i32 local (or parameter) holding K, the number of terms; a multiple of `step`. */
  terms: number;
  /** Terms each iteration adds to every accumulator, in order (a divisor of 32). */
  step: number;
  /** Two free i32 locals: terms done so far, and the end of the current run. */
  done: number;
  runEnd: number;
  /** The run's v128 accumulators; each iteration adds its terms into them. */
  accumulators: number[];
  /** Three v128 locals per accumulator, [group, block, total] (free before the loop; total holds the sum after it). */
  levels: [number, number, number][];
  /** One iteration: adds the next `step` terms to the accumulators and advances its pointers. */
  iteration: number[];
}

/** The loop; afterwards levels[i][2] holds accumulator i's cascade sum. */
export function cascadeLoop(spec: CascadeLoop): number[] {
  const { terms, step, done, runEnd, accumulators, levels, iteration } = spec;
  if (CASCADE_FAN_IN % step !== 0) throw new Error(`cascadeLoop: step ${step} must divide the run length ${CASCADE_FAN_IN}`);
  const addInto = (into: number, from: number) => [...get(into), ...get(from), ...op.f32x4Add, ...set(into)];
  const code: number[] = [...op.i32Const(0), ...set(done)];
  for (const level of levels) for (const local of level) code.push(...op.v128Zero, ...set(local));
  // runs
  code.push(...op.blockLoop, ...get(done), ...get(terms), ...op.i32GeU, ...op.breakIfOutOfLoop);
  // end = min(done + 32, K)
  code.push(...get(done), ...op.i32Const(CASCADE_FAN_IN), ...op.i32Add, ...op.localTee(runEnd), ...get(terms), ...get(runEnd), ...get(terms), ...op.i32LtU, ...op.select, ...set(runEnd));
  for (const acc of accumulators) code.push(...op.v128Zero, ...set(acc));
  // the run's terms
  code.push(...op.blockLoop, ...get(done), ...get(runEnd), ...op.i32GeU, ...op.breakIfOutOfLoop);
  code.push(...iteration);
  code.push(...get(done), ...op.i32Const(step), ...op.i32Add, ...set(done), ...op.continueLoop, ...op.end, ...op.end);
  // fold the run into its group, a full group into its block, a full block into the total
  accumulators.forEach((acc, i) => code.push(...addInto(levels[i][0], acc)));
  const everyTerms = (n: number) => [...get(done), ...op.i32Const(n - 1), ...op.i32And, ...op.i32Eqz];
  code.push(...everyTerms(CASCADE_FAN_IN ** 2), ...op.ifThen);
  levels.forEach(([group, block]) => code.push(...addInto(block, group), ...op.v128Zero, ...set(group)));
  code.push(...everyTerms(CASCADE_FAN_IN ** 3), ...op.ifThen);
  levels.forEach(([, block, total]) => code.push(...addInto(total, block), ...op.v128Zero, ...set(block)));
  code.push(...op.end, ...op.end);
  code.push(...op.continueLoop, ...op.end, ...op.end);
  // total + (block + group)
  levels.forEach(([group, block, total]) => code.push(...addInto(block, group), ...addInto(total, block)));
  return code;
}
