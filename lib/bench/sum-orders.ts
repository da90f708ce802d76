// `npm run measure:sum-orders`: the evidence behind kernels/sum-order.ts, the
// order every float32 sum over a model dimension follows. For each candidate
// order it sums float32 terms of Gemma2's lengths in float32 and prints the
// root-mean-square error against the exact (float64) sum of the same terms,
// in units of 2^-24 (float32's unit roundoff) times the sum's scale:
//   dot      terms a_k b_k with a, b ~ N(0, 1) (a matmul's K loop);
//            scale sqrt(sum of the terms squared), the size of a random-sign sum
//   squares  terms a_k^2 (RMSNorm's mean of squares, a softmax denominator);
//            scale the exact sum
// The products are rounded to float32 first, so only the summation differs.
//
//   npm run measure:sum-orders -- [--cases 100] [--json out.json]

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Generator } from '../tensor/random.ts';
import { cascadeSum } from '../../kernels/sum-order.ts';

const f32 = Math.fround;

function inOrder(terms: Float32Array): number {
  let s = 0;
  for (const x of terms) s = f32(s + x);
  return s;
}

/** The 32-ary-style cascade with another fan-in and `levels` levels below an in-order top (Infinity: until one node is left). */
function cascade(terms: Float32Array, fanIn: number, levels = Infinity): number {
  let level = Array.from(terms);
  for (let depth = 0; depth < levels && level.length > 1; depth++) {
    const next: number[] = [];
    for (let i = 0; i < level.length; i += fanIn) {
      let s = 0;
      for (let j = i; j < Math.min(i + fanIn, level.length); j++) s = f32(s + level[j]);
      next.push(s);
    }
    level = next;
  }
  return inOrder(Float32Array.from(level));
}

/** Runs of 32 in order, the run sums combined pairwise (halves, recursively). */
function pairwiseOverRuns(terms: Float32Array): number {
  const runs: number[] = [];
  for (let i = 0; i < terms.length; i += 32) runs.push(inOrder(terms.subarray(i, i + 32)));
  const pairwise = (values: number[]): number => {
    if (values.length === 1) return values[0];
    const half = Math.ceil(values.length / 2);
    return f32(pairwise(values.slice(0, half)) + pairwise(values.slice(half)));
  };
  return pairwise(runs);
}

/** Kahan's compensated sum. */
function compensated(terms: Float32Array): number {
  let s = 0;
  let c = 0;
  for (const x of terms) {
    const y = f32(x - c);
    const t = f32(s + y);
    c = f32(f32(t - s) - y);
    s = t;
  }
  return s;
}

export const ORDERS: [string, (terms: Float32Array) => number][] = [
  ['in order', inOrder],
  ['two levels of 32', (t) => cascade(t, 32, 1)],
  ['cascade, fan-in 8', (t) => cascade(t, 8)],
  ['cascade, fan-in 16', (t) => cascade(t, 16)],
  ['cascade, fan-in 32 (kernels)', (t) => cascadeSum(t, 0, t.length)],
  ['cascade, fan-in 64', (t) => cascade(t, 64)],
  ['pairwise over runs of 32', pairwiseOverRuns],
  ['compensated (Kahan)', compensated],
];

const LENGTHS = [256, 2304, 9216, 36864, 256000];

function main(): void {
  const { values } = parseArgs({ options: { cases: { type: 'string', default: '100' }, json: { type: 'string' } } });
  const cases = Number(values.cases);
  if (!Number.isInteger(cases) || cases < 1) throw new RangeError(`--cases: expected a positive integer, got ${values.cases}`);
  const rng = new Generator(20261204);
  const u = 2 ** -24;
  const results: Record<string, Record<string, number>> = {};
  for (const kind of ['dot', 'squares'] as const) {
    for (const n of LENGTHS) {
      const squaredErrors = new Map<string, number>(ORDERS.map(([name]) => [name, 0]));
      const runs = n > 50_000 ? Math.max(1, Math.ceil(cases / 5)) : cases;
      for (let c = 0; c < runs; c++) {
        const terms = new Float32Array(n);
        let exact = 0;
        let sizeSquared = 0;
        for (let k = 0; k < n; k++) {
          const a = f32(rng.nextNormal());
          const b = kind === 'dot' ? f32(rng.nextNormal()) : a;
          terms[k] = f32(a * b);
          exact += terms[k];
          sizeSquared += terms[k] * terms[k];
        }
        const scale = kind === 'dot' ? Math.sqrt(sizeSquared) : exact;
        for (const [name, sum] of ORDERS) squaredErrors.set(name, squaredErrors.get(name)! + ((sum(terms) - exact) / scale / u) ** 2);
      }
      for (const [name] of ORDERS) {
        results[name] ??= {};
        results[name][`${kind} ${n}`] = Math.sqrt(squaredErrors.get(name)! / runs);
      }
      process.stderr.write(`  ${kind} n=${n}: ${runs} cases\n`);
    }
  }
  const columns = Object.keys(results[ORDERS[0][0]]);
  const width = Math.max(...ORDERS.map(([name]) => name.length));
  console.log(`float32 sum error, rms over random cases, in units of 2^-24 x scale (dot: sqrt(sum p^2); squares: the sum)`);
  console.log(`${'order'.padEnd(width)}  ${columns.map((c) => c.padStart(13)).join(' ')}`);
  for (const [name] of ORDERS) console.log(`${name.padEnd(width)}  ${columns.map((c) => results[name][c].toFixed(2).padStart(13)).join(' ')}`);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ cases, unit: '2^-24 x scale', results }, null, 2));
}

main();
