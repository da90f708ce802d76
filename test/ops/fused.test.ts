// The fused ops: cross-entropy (with ignoreIndex and the three reductions),
// Gemma's RMSNorm, rotary position embedding and the gated MLP's
// gelu_tanh(gate) * up. Each is checked three ways: kernel vs the float64
// reference, fused op vs the same formula composed from primitive ops
// (forward and backward; for RMSNorm's backward and geluTanhMul, bit for bit
// against the ops they replaced), and backward vs central finite differences
// of the reference; plus the errors for bad targets, weights, tables and
// shapes, and the loud failure for a gradient no rule provides.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../lib/ops/index.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { randint, tensor } from '../../lib/tensor/creation.ts';
import { GradientError } from '../../lib/autograd/tape.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { runRmsNorm } from '../../kernels/rms-norm.ts';
import { withComputePath } from '../../kernels/backend.ts';
import { describeEachBackend, expectClose, finiteDifference, randomTensor, seedArb, shapeArb, toRef, weightedSum } from '../helpers.ts';

// ---- cross-entropy --------------------------------------------------------------

type Reduction = 'mean' | 'sum' | 'none';
const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

/**
 * Targets in [0, classes) with about a quarter of them (always the first)
 * set to ignoreIndex. ignoreIndex may lie inside [0, classes) (a pad token
 * id), in which case every target equal to it is ignored too.
 */
function randomTargets(shape: number[], classes: number, seed: number, ignoreIndex: number): Tensor {
  const targets = randint(shape, 0, classes, { seed });
  const data = targets.contiguousData();
  const picks = randint(shape, 0, 4, { seed: seed + 1 }).contiguousData();
  for (let i = 0; i < data.length; i++) if (picks[i] === 0 || i === 0) data[i] = ignoreIndex;
  return targets;
}

/** The reference loss for one reduction: a scalar (as a rank-0 tensor) or one loss per target. */
function refCrossEntropy(logits: RefTensor, targets: Tensor, reduction: Reduction, ignoreIndex: number): RefTensor {
  const list = Array.from(targets.contiguousData());
  const rows = R.crossEntropyRows(logits, list, ignoreIndex);
  if (reduction === 'none') return R.refTensor(targets.shape, rows);
  if (reduction === 'sum') return R.refTensor([], [rows.reduce((s, v) => s + v, 0)]);
  return R.refTensor([], [R.crossEntropy(logits, list, ignoreIndex)]);
}

/** logits [...rows, C] of rank 2 or 3, and an ignore index: the default (-100), -1, or a class id (0, a pad token). */
const crossEntropyCaseArb = fc.record({
  rowsShape: shapeArb(1, 2, 6),
  classes: fc.integer({ min: 1, max: 64 }),
  ignoreIndex: fc.constantFrom<number | undefined>(undefined, -1, 0),
  seed: seedArb,
});

// ---- RMSNorm --------------------------------------------------------------------

/** Gemma's RMSNorm written with primitive ops: x * rsqrt(mean(x*x, -1, true) + eps) * (1 + w). */
function composedRmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return ops.mul(ops.mul(x, ops.rsqrt(ops.add(ops.mean(ops.mul(x, x), -1, true), eps))), ops.add(weight, 1));
}

const bits = (t: Tensor) => Array.from(t.contiguousData());

const rmsNormCaseArb = fc.record({
  rowsShape: shapeArb(0, 2, 5),
  hidden: fc.integer({ min: 1, max: 64 }),
  eps: fc.constantFrom(1e-6, 1e-5, 0.1),
  seed: seedArb,
});

/**
 * The gradient rule rmsNorm had before its backward kernel, composed from
 * primitive ops around the forward's own r (so the arithmetic after r is all
 * that is compared): u = g (1 + w); dx = u r - x (r^3 mean(u x)); dw = g x r
 * summed back to w's shape.
 */
function composedRmsNormBackward(x: Tensor, weight: Tensor, g: Tensor, eps: number): { dx: Tensor; dw: Tensor } {
  const hidden = weight.size;
  const invRms = Tensor.fromData(runRmsNorm(x.contiguousData(), weight.contiguousData(), x.size / hidden, hidden, eps).invRms, [...x.shape.slice(0, -1), 1]);
  const u = ops.mul(g, ops.addScalar(weight, 1));
  const r3 = ops.mul(invRms, ops.mul(invRms, invRms));
  return {
    dx: ops.sub(ops.mul(u, invRms), ops.mul(x, ops.mul(r3, ops.mean(ops.mul(u, x), -1, true)))),
    dw: ops.sumToShape(ops.mul(g, ops.mul(x, invRms)), weight.shape),
  };
}

// ---- geluTanhMul ----------------------------------------------------------------

const geluMulCaseArb = fc.record({ shape: shapeArb(0, 3, 40), seed: seedArb });

// ---- RoPE -----------------------------------------------------------------------

/** rotate-half RoPE written with primitive ops: x * cos + concat([-x2, x1]) * sin, tables broadcast over heads. */
function composedRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const half = x.shape[3] / 2;
  const rotated = ops.concat([ops.neg(x.narrow(3, half, half)), x.narrow(3, 0, half)], -1);
  return ops.add(ops.mul(x, cos.unsqueeze(1)), ops.mul(rotated, sin.unsqueeze(1)));
}

interface RopeCase {
  B: number;
  heads: number;
  T: number;
  D: number;
  perSequence: boolean;
  realistic: boolean;
  seed: number;
}

const ropeCaseArb: fc.Arbitrary<RopeCase> = fc.record({
  B: fc.integer({ min: 1, max: 3 }),
  heads: fc.integer({ min: 1, max: 3 }),
  T: fc.integer({ min: 1, max: 6 }),
  D: fc.integer({ min: 1, max: 8 }).map((half) => 2 * half),
  perSequence: fc.boolean(),
  realistic: fc.boolean(),
  seed: seedArb,
});

/**
 * cos and sin tables [B or 1, T, D]: realistic ones from the reference's
 * ropeTables at positions offset + t (a different offset per sequence, as
 * left-padded batches have), or arbitrary values in [-1, 1].
 */
function ropeTablesFor(c: RopeCase): { cos: Tensor; sin: Tensor } {
  const tables = c.perSequence ? c.B : 1;
  if (!c.realistic) {
    return { cos: randomTensor([tables, c.T, c.D], c.seed + 1, -1, 1), sin: randomTensor([tables, c.T, c.D], c.seed + 2, -1, 1) };
  }
  const offsets = randint([tables], 0, 5000, { seed: c.seed + 1 }).contiguousData();
  const cos = new Float32Array(tables * c.T * c.D);
  const sin = new Float32Array(tables * c.T * c.D);
  for (let b = 0; b < tables; b++) {
    const positions = Array.from({ length: c.T }, (_, t) => offsets[b] + t);
    const table = R.ropeTables(positions, c.D, 10000);
    cos.set(table.cos.flat(), b * c.T * c.D);
    sin.set(table.sin.flat(), b * c.T * c.D);
  }
  return { cos: Tensor.fromData(cos, [tables, c.T, c.D]), sin: Tensor.fromData(sin, [tables, c.T, c.D]) };
}

describeEachBackend('fused ops', (backend) => {
  // ---- cross-entropy ------------------------------------------------------------

  for (const reduction of REDUCTIONS) {
    test(`crossEntropy '${reduction}': kernel matches the reference, logits of rank 2 and 3, some targets ignored`, () => {
      fc.assert(
        fc.property(crossEntropyCaseArb, ({ rowsShape, classes, ignoreIndex, seed }) => {
          const logits = randomTensor([...rowsShape, classes], seed);
          const ignore = ignoreIndex ?? -100;
          const targets = randomTargets(rowsShape, classes, seed + 1, ignore);
          const loss = ops.crossEntropy(logits, targets, { reduction, ...(ignoreIndex === undefined ? {} : { ignoreIndex }) });
          const expected = refCrossEntropy(toRef(logits), targets, reduction, ignore);
          expect(loss.shape).toEqual(expected.shape);
          expectClose(loss, expected, TOLERANCES.fused, `crossEntropy ${reduction} (ignoreIndex ${ignore})`);
        }),
        { numRuns: 30 },
      );
    });

    test(`crossEntropy '${reduction}': backward matches finite differences`, () => {
      fc.assert(
        fc.property(crossEntropyCaseArb, ({ rowsShape, classes, ignoreIndex, seed }) => {
          const ignore = ignoreIndex ?? -100;
          if (classes === 1 && ignore === 0) return; // the only class is the ignored one: nothing is counted (tested below)
          const logits = randomTensor([...rowsShape, classes], seed).requireGrad();
          const targets = randomTargets(rowsShape, classes, seed + 1, ignore);
          // count at least one row, so that 'mean' has a finite gradient
          if (!Array.from(targets.contiguousData()).some((t) => t !== ignore)) targets.contiguousData()[0] = classes - 1;
          const loss = ops.crossEntropy(logits, targets, { reduction, ignoreIndex: ignore });
          const weights = randomTensor(loss.shape, seed + 2);
          loss.backward(weights);
          const f = (inputs: RefTensor[]) => weightedSum(refCrossEntropy(inputs[0], targets, reduction, ignore), toRef(weights));
          expectClose(logits.grad!, finiteDifference(f, [toRef(logits)], 0), TOLERANCES.gradient, `dcrossEntropy ${reduction}/dlogits`);
        }),
        { numRuns: 15 },
      );
    });
  }

  test('crossEntropy: every target ignored gives NaN for mean (as PyTorch), 0 for sum and zero losses and gradients', () => {
    for (const ignoreIndex of [-100, 3]) {
      const logits = randomTensor([2, 3, 5], 1).requireGrad();
      const targets = tensor([[ignoreIndex, ignoreIndex, ignoreIndex], [ignoreIndex, ignoreIndex, ignoreIndex]], { dtype: 'int32' });
      expect(ops.crossEntropy(logits, targets, { ignoreIndex }).item()).toBeNaN();
      const total = ops.crossEntropy(logits, targets, { ignoreIndex, reduction: 'sum' });
      expect(total.item()).toBe(0);
      expect(Array.from(ops.crossEntropy(logits, targets, { ignoreIndex, reduction: 'none' }).contiguousData())).toEqual(new Array(6).fill(0));
      total.backward();
      expect(Array.from(logits.grad!.contiguousData())).toEqual(new Array(30).fill(0));
    }
  });

  test('crossEntropy: logits with no classes are fine while every row is ignored', () => {
    const logits = Tensor.fromData(new Float32Array(0), [2, 0]).requireGrad();
    const targets = tensor([-100, -100], { dtype: 'int32' });
    expect(ops.crossEntropy(logits, targets).item()).toBeNaN();
    expect(Array.from(ops.crossEntropy(logits, targets, { reduction: 'none' }).contiguousData())).toEqual([0, 0]);
    const total = ops.crossEntropy(logits, targets, { reduction: 'sum' });
    expect(total.item()).toBe(0);
    total.backward();
    expect(logits.grad!.shape).toEqual([2, 0]);
    expect(() => ops.crossEntropy(logits, tensor([-100, 0], { dtype: 'int32' }))).toThrow(/crossEntropy: target 0 at flat position 1 is outside \[0, 0\)/);
  });

  test('crossEntropy: transposed (non-contiguous) logits give the values and gradients of their copy', () => {
    const stored = randomTensor([6, 4], 5).requireGrad(); // [C, N], read as [N, C]
    const copy = randomTensor([6, 4], 5).transpose(0, 1).contiguous().requireGrad();
    const targets = tensor([5, -100, 0, 3], { dtype: 'int32' });
    const viewed = ops.crossEntropy(stored.transpose(0, 1), targets);
    const copied = ops.crossEntropy(copy, targets);
    expect(viewed.item()).toBe(copied.item());
    viewed.backward();
    copied.backward();
    expect(stored.grad!.toArray()).toEqual(copy.grad!.transpose(0, 1).contiguous().toArray());
  });

  test('crossEntropy: ignored rows get exactly zero gradient, counted rows sum to zero over the classes', () => {
    const logits = randomTensor([4, 7], 2).requireGrad();
    const targets = tensor([3, -100, 6, -100], { dtype: 'int32' });
    ops.crossEntropy(logits, targets).backward();
    const grad = logits.grad!.toArray() as number[][];
    expect(grad[1]).toEqual(new Array(7).fill(0));
    expect(grad[3]).toEqual(new Array(7).fill(0));
    for (const row of [grad[0], grad[2]]) expect(Math.abs(row.reduce((s, v) => s + v, 0))).toBeLessThan(1e-6);
    expect(grad[0][3]).toBeLessThan(0); // the target's logit is pushed up
  });

  // ---- RMSNorm ------------------------------------------------------------------

  test('rmsNorm: kernel matches the reference', () => {
    fc.assert(
      fc.property(rmsNormCaseArb, ({ rowsShape, hidden, eps, seed }) => {
        const x = randomTensor([...rowsShape, hidden], seed);
        const weight = randomTensor([hidden], seed + 1, -1, 1);
        expectClose(ops.rmsNorm(x, weight, eps), R.rmsNorm(toRef(x), toRef(weight), eps), TOLERANCES.fused, `rmsNorm eps ${eps}`);
      }),
      { numRuns: 40 },
    );
  });

  test('rmsNorm: fused forward and backward equal the op composed from primitives', () => {
    fc.assert(
      fc.property(rmsNormCaseArb, ({ rowsShape, hidden, eps, seed }) => {
        const shape = [...rowsShape, hidden];
        const run = (f: typeof composedRmsNorm) => {
          const x = randomTensor(shape, seed).requireGrad();
          const weight = randomTensor([hidden], seed + 1, -1, 1).requireGrad();
          const y = f(x, weight, eps);
          y.backward(randomTensor(shape, seed + 2));
          return { y, dx: x.grad!, dw: weight.grad! };
        };
        const fused = run(ops.rmsNorm);
        const composed = run(composedRmsNorm);
        expectClose(fused.y, toRef(composed.y), TOLERANCES.fused, 'rmsNorm vs composed');
        expectClose(fused.dx, toRef(composed.dx), TOLERANCES.fused, 'drmsNorm/dx vs composed');
        expectClose(fused.dw, toRef(composed.dw), TOLERANCES.fused, 'drmsNorm/dw vs composed');
      }),
      { numRuns: 30 },
    );
  });

  test('rmsNorm: the backward kernel gives the bits of the rule it replaced (dw: for 2-D x; a tolerance otherwise and on the cpu backend)', () => {
    // bits where every operation is a float32 one: the webasm backend, on both compute paths. GPU.js's
    // cpu backend computes a kernel in float64 and rounds its result, so there the fused kernel rounds
    // less often than the composed ops. dw sums every row in one cascade, where sumToShape sums one
    // leading axis at a time: the same bits when there is one.
    const paths = backend === 'webasm' ? (['cpu', 'gpujs'] as const) : ([undefined] as const);
    fc.assert(
      fc.property(rmsNormCaseArb, ({ rowsShape, hidden, eps, seed }) => {
        const shape = [...rowsShape, hidden];
        for (const path of paths) {
          const run = () => {
            const x = randomTensor(shape, seed).requireGrad();
            const weight = randomTensor([hidden], seed + 1, -1, 1).requireGrad();
            const g = randomTensor(shape, seed + 2);
            ops.rmsNorm(x, weight, eps).backward(g);
            const composed = composedRmsNormBackward(x.detach(), weight.detach(), g, eps);
            return { fused: { dx: x.grad!, dw: weight.grad! }, composed };
          };
          const { fused, composed } = path === undefined ? run() : withComputePath(path, run);
          const where = `${backend}${path === undefined ? '' : ` ${path} path`} [${shape}]`;
          if (backend === 'webasm') {
            expect(bits(fused.dx), `dx ${where}`).toEqual(bits(composed.dx));
            if (rowsShape.length <= 1) expect(bits(fused.dw), `dw ${where}`).toEqual(bits(composed.dw));
          }
          expectClose(fused.dx, toRef(composed.dx), TOLERANCES.fused, `dx ${where}`);
          expectClose(fused.dw, toRef(composed.dw), TOLERANCES.reduction, `dw ${where}`);
        }
      }),
      { numRuns: 30 },
    );
  });

  test('rmsNorm: only the gradients asked for; a frozen weight gets none', () => {
    const x = randomTensor([3, 9], 1).requireGrad();
    const weight = randomTensor([9], 2, -1, 1);
    ops.sum(ops.rmsNorm(x, weight, 1e-6)).backward();
    expect(x.grad!.shape).toEqual([3, 9]);
    expect(weight.grad).toBeNull();
    const frozen = randomTensor([3, 9], 1);
    const trained = randomTensor([9], 2, -1, 1).requireGrad();
    ops.sum(ops.rmsNorm(frozen, trained, 1e-6)).backward();
    expect(frozen.grad).toBeNull();
    expect(trained.grad!.shape).toEqual([9]);
  });

  test('rmsNorm: backward for x and weight matches finite differences', () => {
    fc.assert(
      fc.property(rmsNormCaseArb, ({ rowsShape, hidden, eps, seed }) => {
        const x = randomTensor([...rowsShape, Math.min(hidden, 12)], seed).requireGrad();
        const weight = randomTensor([x.shape[x.rank - 1]], seed + 1, -1, 1).requireGrad();
        const y = ops.rmsNorm(x, weight, eps);
        const weights = randomTensor(y.shape, seed + 2);
        y.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.rmsNorm(inputs[0], inputs[1], eps), toRef(weights));
        const refs = [toRef(x), toRef(weight)];
        expectClose(x.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, 'drmsNorm/dx');
        expectClose(weight.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, 'drmsNorm/dweight');
      }),
      { numRuns: 25 },
    );
  });

  test('rmsNorm: a transposed x and an implied (broadcast) upstream gradient give the results of a contiguous copy', () => {
    const stored = randomTensor([7, 3], 6).requireGrad(); // [H, rows], read as [rows, H]
    const copy = randomTensor([7, 3], 6).transpose(0, 1).contiguous().requireGrad();
    const weight = randomTensor([7], 7, -1, 1);
    const viewed = ops.rmsNorm(stored.transpose(0, 1), weight, 1e-6);
    const copied = ops.rmsNorm(copy, weight, 1e-6);
    expect(viewed.toArray()).toEqual(copied.toArray());
    ops.mean(viewed).backward();
    ops.mean(copied).backward();
    expect(stored.grad!.toArray()).toEqual(copy.grad!.transpose(0, 1).contiguous().toArray());
  });

  test('rmsNorm: empty rows or an empty last axis give an empty result of the right shape', () => {
    expect(ops.rmsNorm(Tensor.fromData(new Float32Array(0), [0, 4]), randomTensor([4], 1), 1e-6).shape).toEqual([0, 4]);
    expect(ops.rmsNorm(Tensor.fromData(new Float32Array(0), [2, 3, 0]), Tensor.fromData(new Float32Array(0), [0]), 1e-6).shape).toEqual([2, 3, 0]);
  });

  // ---- geluTanhMul ---------------------------------------------------------------

  test('geluTanhMul: kernel matches the reference', () => {
    fc.assert(
      fc.property(geluMulCaseArb, ({ shape, seed }) => {
        const gate = randomTensor(shape, seed, -6, 6);
        const up = randomTensor(shape, seed + 1);
        expectClose(ops.geluTanhMul(gate, up), R.geluTanhMul(toRef(gate), toRef(up)), TOLERANCES.transcendental, `geluTanhMul [${shape}]`);
      }),
      { numRuns: 40 },
    );
  });

  test('geluTanhMul: forward and both gradients have the bits of geluTanh then mul, on every path', () => {
    // the kernels round where the composed ops do (Math.fround of the GELU, of g up and of the derivative),
    // so on GPU.js's float64 cpu backend too; on webasm both compute paths are checked
    const paths = backend === 'webasm' ? (['cpu', 'gpujs'] as const) : ([undefined] as const);
    fc.assert(
      fc.property(geluMulCaseArb, ({ shape, seed }) => {
        for (const path of paths) {
          const run = (f: (gate: Tensor, up: Tensor) => Tensor) => {
            const gate = randomTensor(shape, seed, -6, 6).requireGrad();
            const up = randomTensor(shape, seed + 1).requireGrad();
            const y = f(gate, up);
            y.backward(randomTensor(shape, seed + 2));
            return { y, dGate: gate.grad!, dUp: up.grad! };
          };
          const within = <T>(fn: () => T) => (path === undefined ? fn() : withComputePath(path, fn));
          const fused = within(() => run(ops.geluTanhMul));
          const composed = within(() => run((gate, up) => ops.mul(ops.geluTanh(gate), up)));
          const where = `${backend}${path === undefined ? '' : ` ${path} path`} [${shape}]`;
          expect(bits(fused.y), `y ${where}`).toEqual(bits(composed.y));
          expect(bits(fused.dGate), `d gate ${where}`).toEqual(bits(composed.dGate));
          expect(bits(fused.dUp), `d up ${where}`).toEqual(bits(composed.dUp));
        }
      }),
      { numRuns: 30 },
    );
  });

  test('geluTanhMul: backward for gate and up matches finite differences', () => {
    fc.assert(
      fc.property(fc.record({ shape: shapeArb(0, 3, 6), seed: seedArb }), ({ shape, seed }) => {
        const gate = randomTensor(shape, seed, -6, 6).requireGrad();
        const up = randomTensor(shape, seed + 1).requireGrad();
        const y = ops.geluTanhMul(gate, up);
        const weights = randomTensor(shape, seed + 2);
        y.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.geluTanhMul(inputs[0], inputs[1]), toRef(weights));
        const refs = [toRef(gate), toRef(up)];
        expectClose(gate.grad!, finiteDifference(f, refs, 0), TOLERANCES.gradient, 'dgeluTanhMul/dgate');
        expectClose(up.grad!, finiteDifference(f, refs, 1), TOLERANCES.gradient, 'dgeluTanhMul/dup');
      }),
      { numRuns: 25 },
    );
  });

  test('geluTanhMul: transposed inputs give the values and gradients of contiguous copies; empty inputs an empty result', () => {
    const gate = randomTensor([5, 3], 1, -4, 4).requireGrad();
    const up = randomTensor([5, 3], 2).requireGrad();
    const gateCopy = randomTensor([5, 3], 1, -4, 4).transpose(0, 1).contiguous().requireGrad();
    const upCopy = randomTensor([5, 3], 2).transpose(0, 1).contiguous().requireGrad();
    const viewed = ops.geluTanhMul(gate.transpose(0, 1), up.transpose(0, 1));
    const copied = ops.geluTanhMul(gateCopy, upCopy);
    expect(viewed.toArray()).toEqual(copied.toArray());
    ops.mean(viewed).backward();
    ops.mean(copied).backward();
    expect(gate.grad!.toArray()).toEqual(gateCopy.grad!.transpose(0, 1).contiguous().toArray());
    expect(up.grad!.toArray()).toEqual(upCopy.grad!.transpose(0, 1).contiguous().toArray());
    const empty = Tensor.fromData(new Float32Array(0), [2, 0]).requireGrad();
    const y = ops.geluTanhMul(empty, Tensor.fromData(new Float32Array(0), [2, 0]));
    expect(y.shape).toEqual([2, 0]);
    ops.sum(y).backward();
    expect(empty.grad!.shape).toEqual([2, 0]);
  });

  // ---- RoPE ---------------------------------------------------------------------

  test('rope: kernel matches the reference, tables [1, T, D] and [B, T, D], realistic and arbitrary', () => {
    fc.assert(
      fc.property(ropeCaseArb, (c) => {
        const x = randomTensor([c.B, c.heads, c.T, c.D], c.seed);
        const { cos, sin } = ropeTablesFor(c);
        expectClose(ops.rope(x, cos, sin), R.rope(toRef(x), toRef(cos), toRef(sin)), TOLERANCES.fused, `rope [${cos.shape}] tables`);
      }),
      { numRuns: 40 },
    );
  });

  test('rope: fused forward and backward equal x*cos + concat([-x2, x1])*sin composed from primitives', () => {
    fc.assert(
      fc.property(ropeCaseArb, (c) => {
        const { cos, sin } = ropeTablesFor(c);
        const run = (f: typeof composedRope) => {
          const x = randomTensor([c.B, c.heads, c.T, c.D], c.seed).requireGrad();
          const y = f(x, cos, sin);
          y.backward(randomTensor(y.shape, c.seed + 3));
          return { y, dx: x.grad! };
        };
        const fused = run(ops.rope);
        const composed = run(composedRope);
        expectClose(fused.y, toRef(composed.y), TOLERANCES.fused, 'rope vs composed');
        expectClose(fused.dx, toRef(composed.dx), TOLERANCES.fused, 'drope/dx vs composed');
      }),
      { numRuns: 30 },
    );
  });

  test('rope: backward for x matches finite differences', () => {
    fc.assert(
      fc.property(ropeCaseArb, (c) => {
        const x = randomTensor([c.B, c.heads, c.T, c.D], c.seed).requireGrad();
        const { cos, sin } = ropeTablesFor(c);
        const y = ops.rope(x, cos, sin);
        const weights = randomTensor(y.shape, c.seed + 3);
        y.backward(weights);
        const f = (inputs: RefTensor[]) => weightedSum(R.rope(inputs[0], toRef(cos), toRef(sin)), toRef(weights));
        expectClose(x.grad!, finiteDifference(f, [toRef(x)], 0), TOLERANCES.gradient, 'drope/dx');
      }),
      { numRuns: 25 },
    );
  });

  test('rope: x transposed from [B, T, heads, D] (the attention layout) gives the values and gradients of a contiguous copy', () => {
    const c: RopeCase = { B: 2, heads: 3, T: 4, D: 6, perSequence: true, realistic: true, seed: 11 };
    const { cos, sin } = ropeTablesFor(c);
    const stored = randomTensor([2, 4, 3, 6], 12).requireGrad();
    const copy = randomTensor([2, 4, 3, 6], 12).transpose(1, 2).contiguous().requireGrad();
    const viewed = ops.rope(stored.transpose(1, 2), cos, sin);
    const copied = ops.rope(copy, cos, sin);
    expect(viewed.toArray()).toEqual(copied.toArray());
    ops.mean(viewed).backward();
    ops.mean(copied).backward();
    expect(stored.grad!.toArray()).toEqual(copy.grad!.transpose(1, 2).contiguous().toArray());
  });

  test('rope: position 0 is the identity and a realistic table preserves each pair norm', () => {
    const x = randomTensor([2, 2, 3, 8], 4);
    const { cos, sin } = ropeTablesFor({ B: 2, heads: 2, T: 3, D: 8, perSequence: false, realistic: true, seed: 1 });
    const tables = R.ropeTables([0, 1, 2], 8, 10000);
    const identity = ops.rope(x, Tensor.fromData(Float32Array.from(tables.cos.flat()), [1, 3, 8]), Tensor.fromData(Float32Array.from(tables.sin.flat()), [1, 3, 8]));
    const xs = x.toArray() as number[][][][];
    const ys = identity.toArray() as number[][][][];
    for (let b = 0; b < 2; b++) for (let h = 0; h < 2; h++) expect(ys[b][h][0]).toEqual(xs[b][h][0]);
    const rotated = ops.rope(x, cos, sin).toArray() as number[][][][];
    for (let b = 0; b < 2; b++) {
      for (let h = 0; h < 2; h++) {
        for (let t = 0; t < 3; t++) {
          for (let j = 0; j < 4; j++) {
            const before = Math.hypot(xs[b][h][t][j], xs[b][h][t][j + 4]);
            const after = Math.hypot(rotated[b][h][t][j], rotated[b][h][t][j + 4]);
            expect(Math.abs(after - before)).toBeLessThanOrEqual(TOLERANCES.fused.atol + TOLERANCES.fused.rtol * before);
          }
        }
      }
    }
  });
});

// ---- errors -------------------------------------------------------------------

test('crossEntropy: targets outside [0, C) that are not the ignore index are an error naming crossEntropy', () => {
  const logits = randomTensor([3, 4], 1);
  expect(() => ops.crossEntropy(logits, tensor([0, 4, 1], { dtype: 'int32' }))).toThrow(
    /crossEntropy: target 4 at flat position 1 is outside \[0, 4\) and is not the ignore index -100/,
  );
  expect(() => ops.crossEntropy(logits, tensor([0, 1, -1], { dtype: 'int32' }))).toThrow(/crossEntropy: target -1 at flat position 2/);
  // -100 is only special while it is the ignore index
  expect(() => ops.crossEntropy(logits, tensor([0, -100, 1], { dtype: 'int32' }), { ignoreIndex: -1 })).toThrow(
    /crossEntropy: target -100 .* not the ignore index -1/,
  );
});

test('crossEntropy: float targets and mismatched shapes are errors naming crossEntropy and the shapes', () => {
  const logits = randomTensor([2, 3, 4], 1);
  expect(() => ops.crossEntropy(logits, tensor([[0, 1, 2], [3, 0, 1]]))).toThrow(/crossEntropy: targets must be an int32 tensor, got float32 of shape \[2, 3\]/);
  expect(() => ops.crossEntropy(logits, tensor([0, 1, 2], { dtype: 'int32' }))).toThrow(
    /crossEntropy: logits \[2, 3, 4\] and targets \[3\] disagree/,
  );
  expect(() => ops.crossEntropy(logits, tensor([[[0], [1], [2]], [[3], [0], [1]]], { dtype: 'int32' }))).toThrow(
    /crossEntropy: logits \[2, 3, 4\] and targets \[2, 3, 1\] disagree/,
  );
  expect(() => ops.crossEntropy(tensor([[1, 2]], { dtype: 'int32' }), tensor([0], { dtype: 'int32' }))).toThrow(/crossEntropy: expected a float32 tensor, got int32/);
});

test('rmsNorm: a weight that does not match the last axis, and non-float inputs, are errors naming rmsNorm', () => {
  const x = randomTensor([2, 5], 1);
  expect(() => ops.rmsNorm(x, randomTensor([4], 2), 1e-6)).toThrow(/rmsNorm: weight \[4\] must match the last axis of x \[2, 5\]/);
  expect(() => ops.rmsNorm(x, randomTensor([1, 5], 2), 1e-6)).toThrow(/rmsNorm: weight \[1, 5\] must match the last axis of x \[2, 5\]/);
  expect(() => ops.rmsNorm(tensor(1.5), randomTensor([1], 2), 1e-6)).toThrow(/rmsNorm: weight \[1\] must match the last axis of x \[\]/);
  expect(() => ops.rmsNorm(tensor([1, 2], { dtype: 'int32' }), randomTensor([2], 2), 1e-6)).toThrow(/rmsNorm: expected a float32 tensor, got int32/);
});

test('geluTanhMul: gate and up of different shapes, and non-float inputs, are errors naming geluTanhMul and the shapes', () => {
  expect(() => ops.geluTanhMul(randomTensor([2, 3], 1), randomTensor([3], 2))).toThrow(/geluTanhMul: gate \[2, 3\] and up \[3\] must have the same shape/);
  expect(() => ops.geluTanhMul(randomTensor([2, 3], 1), randomTensor([2, 1], 2))).toThrow(/geluTanhMul: gate \[2, 3\] and up \[2, 1\]/);
  expect(() => ops.geluTanhMul(tensor([1, 2], { dtype: 'int32' }), randomTensor([2], 2))).toThrow(/geluTanhMul: expected a float32 tensor, got int32/);
});

test('rope: an odd head dimension, x not of rank 4 and bad table shapes are errors naming rope and the shapes', () => {
  const x = randomTensor([2, 3, 4, 6], 1);
  const table = randomTensor([1, 4, 6], 2);
  expect(() => ops.rope(randomTensor([2, 3, 4, 5], 1), randomTensor([1, 4, 5], 2), randomTensor([1, 4, 5], 3))).toThrow(
    /rope: head dimension must be even, got x \[2, 3, 4, 5\]/,
  );
  expect(() => ops.rope(randomTensor([3, 4, 6], 1), table, table)).toThrow(/rope: x must have rank 4, got shape \[3, 4, 6\]/);
  expect(() => ops.rope(x, randomTensor([4, 6], 2), randomTensor([4, 6], 3))).toThrow(/rope: cos \[4, 6\] must be \[2, 4, 6\] or \[1, 4, 6\] for x \[2, 3, 4, 6\]/);
  expect(() => ops.rope(x, randomTensor([1, 5, 6], 2), randomTensor([1, 5, 6], 3))).toThrow(/rope: cos \[1, 5, 6\] must be/);
  expect(() => ops.rope(x, randomTensor([3, 4, 6], 2), randomTensor([3, 4, 6], 3))).toThrow(/rope: cos \[3, 4, 6\] must be \[2, 4, 6\] or \[1, 4, 6\]/);
  expect(() => ops.rope(x, table, randomTensor([1, 4, 4], 3))).toThrow(/rope: sin \[1, 4, 4\] must be/);
  expect(() => ops.rope(x, randomTensor([2, 4, 6], 2), table)).toThrow(/rope: cos \[2, 4, 6\] and sin \[1, 4, 6\] differ/);
  expect(() => ops.rope(x, table, randomTensor([2, 4, 6], 3))).toThrow(/rope: cos \[1, 4, 6\] and sin \[2, 4, 6\] differ/);
  expect(() => ops.rope(x, tensor([[[1]]], { dtype: 'int32' }), table)).toThrow(/rope: expected a float32 tensor, got int32/);
});

test('rope: asking for a gradient w.r.t. cos or sin is a GradientError naming rope, never a silent zero', () => {
  for (const which of [1, 2]) {
    const x = randomTensor([1, 2, 3, 4], 1).requireGrad();
    const tables = [randomTensor([1, 3, 4], 2), randomTensor([1, 3, 4], 3)];
    tables[which - 1].requireGrad();
    const y = ops.rope(x, tables[0], tables[1]);
    expect(() => ops.sum(y).backward()).toThrow(GradientError);
    const again = ops.rope(randomTensor([1, 2, 3, 4], 1), tables[0], tables[1]);
    expect(() => ops.sum(again).backward()).toThrow(new RegExp(`rope: no gradient rule for input ${which} \\(shape \\[1, 3, 4\\]\\)`));
  }
});
