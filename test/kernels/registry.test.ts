// The kernel registry (kernels/registry.ts), walked: every registered kernel
// has both implementations and a sample call here, and on the webasm backend
// its CPU path agrees with its GPU.js kernel as the registry claims, bit for
// bit ('same-bits') or within the named tolerance. A kernel added without a
// sample fails here, by name. A kernel that reads bfloat16 weights
// (readsBfloat16: the matrix products' B, the embedding table) runs each
// sample again with that argument rounded to bfloat16, stored once as float32
// and once as bfloat16 bits: on both paths the two give the same bits.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registeredKernels, runKernelOn, kernelNames } from '../../kernels/index.ts';
import { resetBackend, setBackend } from '../../kernels/backend.ts';
import { ELEMENTWISE_FORMULAS, type BroadcastLayout, type ElementwiseOp } from '../../kernels/elementwise.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { findMismatch, randomTensor } from '../helpers.ts';
import { roundToBfloat16, widenBfloat16 } from '../../lib/tensor/dtype.ts';

function data(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  return randomTensor([n], seed, lo, hi).contiguousData() as Float32Array;
}

/** 0 or 1 values: conditions of the selection formulas. */
const flags = (n: number, seed: number) => data(n, seed, 0, 1).map((v) => (v < 0.5 ? 0 : 1));

const FLAT: BroadcastLayout = { output: [37, 1, 1], follows: [[true, false, false], [true, false, false], [true, false, false]] };
/** Output [3][4][5]; operand a full, b broadcast along y, c along x and z. */
const BROADCAST: BroadcastLayout = { output: [5, 4, 3], follows: [[true, true, true], [true, false, true], [false, true, false]] };
const operandSize = (layout: BroadcastLayout, i: number) => layout.follows[i].reduce((n, follows, axis) => n * (follows ? layout.output[axis] : 1), 1);

/** Formulas defined only for positive a. */
const POSITIVE = new Set<ElementwiseOp>(['sqrt', 'rsqrt', 'log', 'pow', 'powScalar', 'rdivScalar']);
const SELECTION = new Set<ElementwiseOp>(['where', 'whereScalar', 'selectIf', 'selectUnless']);

function elementwiseSamples(op: ElementwiseOp): unknown[][] {
  const formula = ELEMENTWISE_FORMULAS[op];
  const operands = ['a', 'b', 'c'].filter((name) => new RegExp(`\\b${name}\\b`).test(formula)).length;
  const scalar = /\bs\b/.test(formula) ? (op === 'softcap' || op === 'softcapGrad' ? 2.5 : 1.5) : undefined;
  const layouts = operands === 1 ? [FLAT] : [FLAT, BROADCAST];
  return layouts.map((full, k) => {
    const layout: BroadcastLayout = { output: full.output, follows: full.follows.slice(0, operands) };
    const values = Array.from({ length: operands }, (_, i) => {
      const n = operandSize(layout, i);
      if (i === 0 && SELECTION.has(op)) return flags(n, 10 * k + i + 1);
      if (op === 'softcapGrad' && i === 0) return data(n, 10 * k + i + 1, -2.4, 2.4); // softcap outputs, inside (-cap, cap)
      return POSITIVE.has(op) ? data(n, 10 * k + i + 1, 0.1, 3) : data(n, 10 * k + i + 1);
    });
    // equalTo needs equal values to say anything
    if (op === 'equalTo') values[1] = values[1].map((v, i) => (i % 3 === 0 ? values[0][i % values[0].length] : v));
    return scalar === undefined ? [layout, values] : [layout, values, scalar];
  });
}

const reductionShapes = [[3, 50, 7], [150, 7, 1], [1, 3, 350], [2, 1100, 1]] as const;

/** Sample calls per kernel, fresh arrays on every call (some kernels update their arguments in place). */
const SAMPLES: Record<string, () => unknown[][]> = {
  ...Object.fromEntries((Object.keys(ELEMENTWISE_FORMULAS) as ElementwiseOp[]).map((op) => [`elementwise.${op}`, () => elementwiseSamples(op)])),
  ...Object.fromEntries(
    ['sum', 'max', 'argmax', 'logSumExp'].map((kind) => [
      `reduce.${kind}`,
      () => reductionShapes.map(([outer, length, inner], k) => {
        const x = data(outer * length * inner, 20 + k, -8, 8);
        if (kind === 'max' && k === 0) x[10] = NaN; // NaN wins
        return [x, outer, length, inner];
      }),
    ]),
  ),
  'rmsNorm.forward': () => [[data(6 * 130, 31, -3, 3), data(130, 33, -1, 1), 6, 130, 1e-6], [data(2 * 2304, 32), data(2304, 34, -1, 1), 2, 2304, 1e-6]],
  'rmsNorm.backward': () =>
    [[70, 130, true], [37, 2304, true], [5, 33, false]].map(([rows, hidden, weightGrad], k) => [
      data((rows as number) * (hidden as number), 35 + k),
      data((rows as number) * (hidden as number), 38 + k, -3, 3),
      data(hidden as number, 41 + k, -1, 1),
      data(rows as number, 44 + k, 0.3, 3),
      rows,
      hidden,
      weightGrad,
    ]),
  'geluTanhMul.backward': () => [[data(1001, 47), data(1001, 48, -6, 6), data(1001, 49)], [data(5, 50), data(5, 51, -6, 6), data(5, 52)]],
  'softmax.rows': () => [[data(5 * 129, 41, -8, 8), 5, 129], [data(3 * 1, 42), 3, 1]],
  'softmax.backwardRows': () => [[data(9 * 37, 43, 0, 1), data(9 * 37, 44), 9, 37]],
  ...Object.fromEntries(
    ['NN', 'NT', 'TN'].map((layout) => [
      `matmul.${layout}`,
      () =>
        ([[1, 64, 36, 1, 0], [3, 20, 8, 1, 1], [40, 64, 128, 1, 0], [37, 30, 21, 1, 1]] as const).map(([M, K, N, aBatched, bBatched]) => {
          const batch = 2;
          return [data(batch * M * K, M + K), data((bBatched ? batch : 1) * K * N, N), { batch, M, K, N, aBatched, bBatched }];
        }),
    ]),
  ),
  'linearSoftcap.forward': () =>
    ([[1, 64, 36], [40, 64, 130], [37, 30, 21]] as const).map(([M, K, N]) => [data(M * K, M + K), data(K * N, N), { batch: 1, M, K, N, aBatched: 0, bBatched: 0 }, M === 1 ? 30 : 2.5]),
  // scores [rows, S]; mask rows with 0, finfo.min, -inf, and one row all -inf (NaN, as softmax gives)
  'attention.rows': () =>
    ([[12, 37, 2.5], [6, 5, null], [4, 130, 50]] as const).map(([rows, S, cap], k) => {
      const mask = data(3 * S, 60 + k, 0, 1).map((u) => (u < 0.6 ? 0 : u < 0.8 ? -3.4028234663852886e38 : -Infinity));
      mask.fill(-Infinity, 2 * S, 3 * S);
      return [data(rows * S, 63 + k, -20, 20), rows, S, mask, Int32Array.from({ length: rows }, (_, r) => r % 3), 0.125, cap];
    }),
  'attention.backwardRows': () =>
    ([[9, 37, 2.5], [5, 130, null], [4, 20, 50]] as const).map(([rows, S, cap], k) => [
      data(rows * S, 66 + k, 0, 1),
      data(rows * S, 69 + k),
      cap === null ? null : data(rows * S, 72 + k, -cap, cap),
      rows,
      S,
      0.125,
      cap,
    ]),
  'embedding.gather': () => [[data(11 * 6, 51), 11, 6, Int32Array.of(3, 0, 10, 3, 7)]],
  // ids 4, 9, 4, 2, 9, 4 grouped by id: 2 -> [3]; 4 -> [0, 2, 5]; 9 -> [1, 4]
  'embedding.scatterRows': () => [[data(6 * 5, 52), 5, Float32Array.of(3, 0, 2, 5, 1, 4), Float32Array.of(0, 1, 4, 6), 3]],
  'concat.pair': () => [[data(2 * 3 * 4, 61), data(2 * 5 * 4, 62), 2, 3, 5, 4]],
  'crossEntropy.grad': () => {
    const [rows, classes] = [6, 1003];
    const logits = data(rows * classes, 71, -10, 10);
    const lse = Float32Array.from({ length: rows }, (_, r) => Math.log(logits.subarray(r * classes, (r + 1) * classes).reduce((s, v) => s + Math.exp(v), 0)));
    return [[logits, rows, classes, Int32Array.of(3, -100, 1002, 0, 500, -100), lse, data(rows, 72), -100]];
  },
  ...Object.fromEntries(
    ['forward', 'backward'].map((direction) => [
      `rope.${direction}`,
      () =>
        [false, true].map((perSequence) => {
          const [B, heads, T, D] = [2, 3, 5, 8];
          const tables = perSequence ? B : 1;
          return [data(B * heads * T * D, 81), data(tables * T * D, 82, -1, 1), data(tables * T * D, 83, -1, 1), { matrices: B * heads, heads, T, D, perSequence }];
        }),
    ]),
  ),
  'adamw.step': () =>
    [3, 1026].map((n) => {
      const step = { beta1: 0.9, beta2: 0.999, decay: 1 - 1e-3 * 0.01, stepSize: 1e-3 / (1 - 0.9 ** 3), correction2Sqrt: Math.sqrt(1 - 0.999 ** 3), eps: 1e-8 };
      return [data(n, 91), data(n, 92), data(n, 93), data(n, 94, 0, 2), step];
    }),
  'sgd.step': () =>
    [false, true].flatMap((nesterov) =>
      [false, true].map((firstStep) => [data(1001, 95), data(1001, 96), data(1001, 97), { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01, nesterov }, firstStep]),
    ),
};

/** Every float array in a kernel's result (a Float32Array, or an object of them). */
function arraysOf(result: unknown): [string, ArrayLike<number>][] {
  if (result instanceof Float32Array) return [['result', result]];
  return Object.entries(result as Record<string, ArrayLike<number>>);
}

/** The first element whose bits differ (NaN matches any NaN), or -1. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

describe('kernel registry', () => {
  beforeAll(() => setBackend('webasm'));
  afterAll(() => resetBackend());

  test('every kernel has a GPU.js and a CPU-path implementation, a stated agreement, and a sample call here', () => {
    const kernels = registeredKernels();
    expect(kernels.length).toBeGreaterThan(40);
    for (const kernel of kernels) {
      expect(typeof kernel.gpujs, kernel.name).toBe('function');
      expect(typeof kernel.cpu.run, kernel.name).toBe('function');
      expect(['wasm-simd', 'host-loop', 'host-copy', 'gpujs'], kernel.name).toContain(kernel.cpu.kind);
      if (kernel.agreement !== 'same-bits') expect(Object.keys(TOLERANCES), kernel.name).toContain(kernel.agreement.tolerance);
    }
    const missing = kernelNames().filter((name) => SAMPLES[name] === undefined);
    expect(missing, 'registered kernels without a sample call in this test').toEqual([]);
    const stale = Object.keys(SAMPLES).filter((name) => !kernelNames().includes(name));
    expect(stale, 'samples for kernels that are not registered').toEqual([]);
  });

  for (const kernel of registeredKernels()) {
    const claim = kernel.agreement === 'same-bits' ? 'the same bits' : `within the ${kernel.agreement.tolerance} tolerance (${kernel.agreement.why})`;
    test(`${kernel.name}: the CPU path (${kernel.cpu.kind}) gives ${claim} as the GPU.js kernel`, () => {
      const samples = SAMPLES[kernel.name];
      if (samples === undefined) throw new Error(`${kernel.name} has no sample call`);
      const cpuCalls = samples();
      const gpujsCalls = samples();
      cpuCalls.forEach((args, call) => {
        const cpu = arraysOf(runKernelOn('cpu', kernel.name, args));
        const gpujs = arraysOf(runKernelOn('gpujs', kernel.name, gpujsCalls[call]));
        expect(cpu.map(([key]) => key)).toEqual(gpujs.map(([key]) => key));
        cpu.forEach(([key, values], k) => {
          const expected = gpujs[k][1];
          const where = `${kernel.name} sample ${call} ${key}`;
          if (kernel.agreement === 'same-bits') {
            const at = firstDifference(values, expected);
            expect(at, `${where}: element ${at} is ${values[at]} on the CPU path, ${expected[at]} with GPU.js`).toBe(-1);
          } else {
            expect(findMismatch(values, expected, TOLERANCES[kernel.agreement.tolerance]), where).toBeNull();
          }
        });
      });
    });
  }

  test('the kernels that read bfloat16 weights are the matrix products (B, the softcapped head too) and the embedding gather (the table)', () => {
    const readers = registeredKernels().flatMap((k) => (k.readsBfloat16 === undefined ? [] : [`${k.name}:${k.readsBfloat16}`]));
    expect(readers.sort()).toEqual(['embedding.gather:0', 'linearSoftcap.forward:1', 'matmul.NN:1', 'matmul.NT:1', 'matmul.TN:1']);
  });

  for (const kernel of registeredKernels().filter((k) => k.readsBfloat16 !== undefined)) {
    const operand = kernel.readsBfloat16!;
    for (const path of ['cpu', 'gpujs'] as const) {
      test(`${kernel.name} (${path} path): argument ${operand} as bfloat16 bits gives the bits of the same values stored as float32`, () => {
        const samples = SAMPLES[kernel.name]!();
        samples.forEach((args, call) => {
          const bits = roundToBfloat16(args[operand] as Float32Array);
          const asFloat32 = [...args];
          asFloat32[operand] = widenBfloat16(bits); // bf16-representable values, stored as float32
          const asBfloat16 = [...args];
          asBfloat16[operand] = bits;
          const expected = arraysOf(runKernelOn(path, kernel.name, asFloat32));
          const actual = arraysOf(runKernelOn(path, kernel.name, asBfloat16));
          expected.forEach(([key, values], k) => {
            const at = firstDifference(actual[k][1], values);
            expect(at, `${kernel.name} sample ${call} ${key}: element ${at} is ${actual[k][1][at]} from bfloat16, ${values[at]} from float32`).toBe(-1);
          });
        });
      });
    }
  }
});
