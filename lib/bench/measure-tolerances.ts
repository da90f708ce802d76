// `npm run measure:tolerances`: the evidence behind kernels/tolerances.ts.
// Runs each op family on random cases like the test suite's (values uniform
// in [-2, 2] unless an op needs a positive domain, axes up to 129) on every
// available backend and prints, per family, the worst absolute error, the
// worst relative error (over |expected| >= 1e-2), and the worst ratio
// error / (atol + rtol |expected|) under the stated tolerance: the suite
// passes while that ratio stays at or below 1.

import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import * as ops from '../ops/index.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES, type Tolerance } from '../../kernels/tolerances.ts';
import { availableBackends, setBackend } from '../../kernels/backend.ts';

const casesFlag = process.argv.indexOf('--cases');
const CASES = casesFlag >= 0 ? Number(process.argv[casesFlag + 1]) : 300;
const rng = new Generator(2024);

const pick = <T>(items: T[]): T => items[rng.nextInt(items.length)];
const randomShape = (rank: number, maxSize: number) => Array.from({ length: rank }, () => 1 + rng.nextInt(maxSize));
function randomTensor(shape: number[], low = -2, high = 2): Tensor {
  const data = new Float32Array(shape.reduce((n, d) => n * d, 1));
  for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * rng.nextFloat();
  return Tensor.fromData(data, shape);
}
const ref = (t: Tensor): RefTensor => ({ shape: t.shape, data: Float64Array.from(t.contiguousData()) });

interface Worst {
  abs: number;
  rel: number;
  ratio: number;
}

function compare(worst: Worst, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): void {
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    worst.abs = Math.max(worst.abs, error);
    if (Math.abs(expected[i]) >= 1e-2) worst.rel = Math.max(worst.rel, error / Math.abs(expected[i]));
    const allowed = tol.atol + tol.rtol * Math.abs(expected[i]);
    worst.ratio = Math.max(worst.ratio, allowed === 0 ? (error === 0 ? 0 : Infinity) : error / allowed);
  }
}

type Family = keyof typeof TOLERANCES;
/** One random case of a family: our result and the reference's. */
type CaseMaker = () => { actual: ArrayLike<number>; expected: ArrayLike<number> };

const unaryCases: [(x: Tensor) => Tensor, (x: RefTensor) => RefTensor, number, number][] = [
  [ops.exp, R.exp, -4, 4],
  [ops.log, R.log, 0.05, 4],
  [ops.tanh, R.tanh, -4, 4],
  [ops.rsqrt, R.rsqrt, 0.05, 4],
  [ops.geluTanh, R.geluTanh, -5, 5],
  [(x) => ops.softcap(x, 2.5), (x) => R.softcap(x, 2.5), -8, 8],
  [(x) => ops.pow(x, -1.5), (x) => R.pow(x, R.refTensor([], [-1.5])), 0.2, 2],
];

/** Gradient of sum(f(x) * w) by central differences of the float64 reference. */
function finiteDifference(f: (x: RefTensor) => RefTensor, x: RefTensor, w: RefTensor): Float64Array {
  const h = 1e-6;
  const value = () => f(x).data.reduce((s, v, i) => s + v * w.data[i], 0);
  const grad = new Float64Array(x.data.length);
  for (let i = 0; i < grad.length; i++) {
    const saved = x.data[i];
    x.data[i] = saved + h;
    const up = value();
    x.data[i] = saved - h;
    const down = value();
    x.data[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

const FAMILIES: Partial<Record<Family, CaseMaker>> = {
  rounded: () => {
    const shape = randomShape(1 + rng.nextInt(3), 9);
    const [run, reference] = pick<[typeof ops.add, typeof R.add]>([[ops.add, R.add], [ops.sub, R.sub], [ops.mul, R.mul], [ops.div, R.div]]);
    const a = randomTensor(shape);
    const b = randomTensor(shape, 0.5, 2);
    return { actual: run(a, b).contiguousData(), expected: reference(ref(a), ref(b)).data };
  },
  transcendental: () => {
    const [run, reference, low, high] = pick(unaryCases);
    const x = randomTensor(randomShape(2, 9), low, high);
    return { actual: run(x).contiguousData(), expected: reference(ref(x)).data };
  },
  reduction: () => {
    const shape = randomShape(2, 9);
    shape[rng.nextInt(2)] = 1 + rng.nextInt(129);
    const axis = rng.nextInt(2);
    const useMean = rng.nextInt(2) === 0;
    const x = randomTensor(shape);
    return useMean
      ? { actual: ops.mean(x, axis).contiguousData(), expected: R.mean(ref(x), axis).data }
      : { actual: ops.sum(x, axis).contiguousData(), expected: R.sum(ref(x), axis).data };
  },
  softmax: () => {
    const shape = randomShape(2, 9);
    shape[1] = 1 + rng.nextInt(129);
    const x = randomTensor(shape, -8, 8);
    return rng.nextInt(2) === 0
      ? { actual: ops.softmax(x, 1).contiguousData(), expected: R.softmax(ref(x), 1).data }
      : { actual: ops.logSoftmax(x, 1).contiguousData(), expected: R.logSoftmax(ref(x), 1).data };
  },
  matmul: () => {
    const [M, K, N] = [pick([1, 3, 17, 129]), pick([1, 3, 17, 129]), pick([1, 3, 17, 129])];
    const a = randomTensor([M, K]);
    const b = randomTensor([K, N]);
    return { actual: ops.matmul(a, b).contiguousData(), expected: R.matmul(ref(a), ref(b)).data };
  },
  fused: () => {
    const kind = rng.nextInt(3);
    if (kind === 0) {
      const x = randomTensor([1 + rng.nextInt(6), 1 + rng.nextInt(129)]);
      const w = randomTensor([x.shape[1]], -0.5, 0.5);
      return { actual: ops.rmsNorm(x, w, 1e-6).contiguousData(), expected: R.rmsNorm(ref(x), ref(w), 1e-6).data };
    }
    if (kind === 1) {
      const [B, heads, T, D] = [1 + rng.nextInt(2), 1 + rng.nextInt(3), 1 + rng.nextInt(9), 2 * (1 + rng.nextInt(8))];
      const x = randomTensor([B, heads, T, D]);
      const tables = R.ropeTables(Array.from({ length: T }, (_, t) => t * 37), D, 10000);
      const cos = Tensor.fromData(Float32Array.from(tables.cos.flat()), [1, T, D]);
      const sin = Tensor.fromData(Float32Array.from(tables.sin.flat()), [1, T, D]);
      return { actual: ops.rope(x, cos, sin).contiguousData(), expected: R.rope(ref(x), ref(cos), ref(sin)).data };
    }
    const rows = 1 + rng.nextInt(8);
    const classes = 1 + rng.nextInt(129);
    const logits = randomTensor([rows, classes], -8, 8);
    const targets = Array.from({ length: rows }, () => rng.nextInt(classes));
    const loss = ops.crossEntropy(logits, Tensor.fromData(Int32Array.from(targets), [rows]), { reduction: 'none' });
    return { actual: loss.contiguousData(), expected: R.crossEntropyRows(ref(logits), targets) };
  },
  gradient: () => {
    const kind = rng.nextInt(3);
    const x = randomTensor(randomShape(2, 6)).requireGrad();
    const cases: [(t: Tensor) => Tensor, (r: RefTensor) => RefTensor][] = [
      [(t) => ops.softmax(t, 1), (r) => R.softmax(r, 1)],
      [(t) => ops.geluTanh(t), R.geluTanh],
      [(t) => ops.rmsNorm(t, Tensor.fromData(new Float32Array(t.shape[1]).fill(0.25), [t.shape[1]]), 1e-6), (r) => R.rmsNorm(r, R.refTensor([r.shape[1]], new Array(r.shape[1]).fill(0.25)), 1e-6)],
    ];
    const [run, reference] = cases[kind];
    const out = run(x);
    const w = randomTensor(out.shape);
    out.backward(w);
    return { actual: x.grad!.contiguousData(), expected: finiteDifference(reference, ref(x), ref(w)) };
  },
};

for (const backend of availableBackends()) {
  setBackend(backend);
  console.log(`\n${backend}: ${CASES} random cases per family`);
  console.log('family            atol      rtol      worst |err|  worst rel err  worst err/allowed');
  for (const [family, makeCase] of Object.entries(FAMILIES) as [Family, CaseMaker][]) {
    const tol = TOLERANCES[family];
    const worst: Worst = { abs: 0, rel: 0, ratio: 0 };
    for (let c = 0; c < CASES; c++) {
      const { actual, expected } = makeCase();
      compare(worst, actual, expected, tol);
    }
    const e = (v: number) => v.toExponential(2).padStart(9);
    console.log(`${family.padEnd(16)} ${e(tol.atol)} ${e(tol.rtol)}    ${e(worst.abs)}      ${e(worst.rel)}          ${worst.ratio.toFixed(3)}`);
  }
}
