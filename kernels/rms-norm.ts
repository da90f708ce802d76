// Gemma's RMSNorm over the rows of a contiguous [rows, hidden] x:
//   forward   r = 1 / sqrt(mean(x^2) + eps),  y = x r (1 + w)
//   backward  with u = g (1 + w):  dx = r u - x r^3 mean(u x)  (per row)
//                                  dw = sum over rows of g x r (per column)
// The squares, the row sums of u x and the column sums of dw all run in the
// cascade order of sum-order.ts.
//
// Each piece is written once, as formula text with f32 marks where float32
// rounds (kernels/formula.ts), and both compute paths are generated from it:
//   gpujs  forward: a row kernel for r, then an element kernel for y;
//          backward: a row kernel for c = r^3 mean(u x), an element kernel
//          for dx, a column kernel for dw (launch variants of one name each)
//   cpu    one host loop per direction: the forward reads each row once for
//          r and once to write y; the backward reads each row once for the
//          row sum and once to write dx while it adds the row into the
//          column sums of dw (kept as the cascade's four levels per column)
// The backward's marks are the roundings of the rule it replaced (addScalar,
// mul, mean, sub: one correctly rounded operation each), so dx has those
// bits, and so does dw for a 2-D x (sumToShape summed leading axes one at a
// time; here every row is one term of one cascade). The scaling x r (1 + w)
// carries no marks, as the element-wise table's formulas do not: the host
// loop computes it in float64 and rounds once, where the webasm kernel rounds
// each of its three operations (the 'fused' tolerance between the paths).

import { outputArray } from '../lib/tensor/arena.ts';
import type { TypedData } from '../lib/tensor/dtype.ts';
import { boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';
import { cascadeStatements } from './sum-order.ts';
import { compileHostLoop, forGpuJs, forHost, substituteReads } from './formula.ts';

/**
 * The formulas. Reads: x(k), w(k), g(k) at position k of the row (or, in
 * dwTerm, row k of the column), rowR(k) the r of row k; names: r (this row's),
 * hidden, eps, invHidden (float32 1 / hidden), c (backwardRow's result).
 */
export const RMS_NORM = {
  /** Statements leaving this row's r in `r`. */
  inverseRms: `${cascadeStatements({ length: 'hidden', term: 'f32(x(i) * x(i))' })}
  const r = f32(1 / f32(Math.sqrt(f32(f32(sum / hidden) + eps))));`,
  /** y at position j: rounded once, when stored (see the file comment). */
  scale: 'x(j) * r * (1 + w(j))',
  /** Statements leaving this row's r^3 mean(u x) in `c`, u = g (1 + w). */
  backwardRow: `${cascadeStatements({ length: 'hidden', term: 'f32(f32(g(i) * f32(w(i) + 1)) * x(i))' })}
  const c = f32(f32(r * f32(r * r)) * f32(sum * invHidden));`,
  /** dx at position j: r u - x c. */
  dx: 'f32(f32(f32(g(j) * f32(w(j) + 1)) * r) - f32(x(j) * c))',
  /** Row k's term of dw at one column: g x r. */
  dwTerm: 'f32(g(k) * f32(x(k) * rowR(k)))',
} as const;

type Reads = Partial<Record<'x' | 'w' | 'g' | 'rowR', (index: string) => string>>;

function withReads(text: string, reads: Reads): string {
  return Object.entries(reads).reduce((out, [name, read]) => substituteReads(out, name, read), text);
}

/** The GPU.js kernels see sizes as compile-time constants. */
const sizesAsConstants = (text: string) => text.replace(/(?<![.\w])(hidden|rows)\b/g, 'this.constants.$1');

// ---- GPU.js: boxes [hidden, rows, 1] for row-major arrays, [n, 1, 1] for vectors

const rowRead = (array: string, row: string) => (k: string) => `${array}[0][${row}][${k}]`;
const vectorRead = (array: string) => (k: string) => `${array}[0][0][${k}]`;

const GPUJS = {
  inverseRms: `function(X, eps) {
  const row = this.thread.x;
  ${sizesAsConstants(forGpuJs(withReads(RMS_NORM.inverseRms, { x: rowRead('X', 'row') })))}
  return r;
}`,
  scale: `function(X, R, W) {
  const j = this.thread.x;
  const r = R[0][0][this.thread.y];
  return ${withReads(RMS_NORM.scale, { x: rowRead('X', 'this.thread.y'), w: vectorRead('W') })};
}`,
  backwardRow: `function(G, X, W, R, invHidden) {
  const row = this.thread.x;
  const r = R[0][0][row];
  ${sizesAsConstants(forGpuJs(withReads(RMS_NORM.backwardRow, { x: rowRead('X', 'row'), g: rowRead('G', 'row'), w: vectorRead('W') })))}
  return c;
}`,
  dx: `function(G, X, W, R, C) {
  const j = this.thread.x;
  const r = R[0][0][this.thread.y];
  const c = C[0][0][this.thread.y];
  return ${forGpuJs(withReads(RMS_NORM.dx, { x: rowRead('X', 'this.thread.y'), g: rowRead('G', 'this.thread.y'), w: vectorRead('W') }))};
}`,
  dw: `function(G, X, R) {
  const j = this.thread.x;
  ${sizesAsConstants(
    forGpuJs(
      cascadeStatements({
        length: 'rows',
        term: withReads(RMS_NORM.dwTerm.replaceAll('(k)', '(i)'), { g: (k) => `G[0][${k}][j]`, x: (k) => `X[0][${k}][j]`, rowR: vectorRead('R') }),
      }),
    ),
  )}
  return sum;
}`,
};

function gpujsForward(x: TypedData, w: TypedData, rows: number, hidden: number, eps: number): RmsNormForward {
  const rowBox = boxed(x, [hidden, rows, 1]);
  const invRms = launch({ name: 'rmsNorm.forward', variant: 'inverseRms', source: GPUJS.inverseRms, output: [rows, 1, 1], args: [rowBox, eps], constants: { hidden } });
  const y = launch({ name: 'rmsNorm.forward', variant: 'scale', source: GPUJS.scale, output: [hidden, rows, 1], args: [rowBox, boxed(invRms, [rows, 1, 1]), boxed(w, [hidden, 1, 1])] });
  return { y, invRms };
}

function gpujsBackward(g: TypedData, x: TypedData, w: TypedData, invRms: TypedData, rows: number, hidden: number, weightGrad: boolean): RmsNormBackward {
  const [G, X] = [g, x].map((data) => boxed(data, [hidden, rows, 1]));
  const [W, R] = [boxed(w, [hidden, 1, 1]), boxed(invRms, [rows, 1, 1])];
  const c = launch({ name: 'rmsNorm.backward', variant: 'rows', source: GPUJS.backwardRow, output: [rows, 1, 1], args: [G, X, W, R, Math.fround(1 / hidden)], constants: { hidden } });
  const dx = launch({ name: 'rmsNorm.backward', variant: 'dx', source: GPUJS.dx, output: [hidden, rows, 1], args: [G, X, W, R, boxed(c, [rows, 1, 1])] });
  const dw = weightGrad ? launch({ name: 'rmsNorm.backward', variant: 'dw', source: GPUJS.dw, output: [hidden, 1, 1], args: [G, X, R], constants: { rows } }) : new Float32Array(0);
  return { dx, dw };
}

// ---- the CPU path's host loops

type HostForward = (x: TypedData, w: TypedData, y: Float32Array, invRms: Float32Array, rows: number, hidden: number, eps: number) => void;

const hostForward = compileHostLoop<HostForward>(
  ['x', 'w', 'y', 'invRms', 'rows', 'hidden', 'eps'],
  `eps = Math.fround(eps); // kernels see scalar arguments as float32
  for (let row = 0; row < rows; row++) {
    const base = row * hidden;
    ${forHost(withReads(RMS_NORM.inverseRms, { x: (i) => `x[base + ${i}]` }))}
    invRms[row] = r;
    for (let j = 0; j < hidden; j++) y[base + j] = ${withReads(RMS_NORM.scale, { x: (j) => `x[base + ${j}]`, w: (j) => `w[${j}]` })};
  }`,
);

type HostBackward = (g: TypedData, x: TypedData, w: TypedData, invRms: TypedData, dx: Float32Array, dw: Float32Array, rows: number, hidden: number, invHidden: number) => void;

/**
 * The backward loop; with `weightGrad`, each row's dw terms are added to
 * per-column cascades as the row is written (the streaming form of
 * sum-order.ts, one run, group, block and total per column).
 */
function hostBackwardLoop(weightGrad: boolean): HostBackward {
  const at = { x: (j: string) => `x[base + ${j}]`, g: (j: string) => `g[base + ${j}]`, w: (j: string) => `w[${j}]` };
  const dwTerm = forHost(withReads(RMS_NORM.dwTerm, { x: () => 'x[base + j]', g: () => 'g[base + j]', rowR: () => 'r' }));
  const fold = (from: string, into: string) => `for (let j = 0; j < hidden; j++) { ${into}[j] = Math.fround(${into}[j] + ${from}[j]); } ${from}.fill(0);`;
  return compileHostLoop<HostBackward>(
    ['g', 'x', 'w', 'invRms', 'dx', 'dw', 'rows', 'hidden', 'invHidden'],
    `invHidden = Math.fround(invHidden);
    ${weightGrad ? 'const runs = new Float32Array(hidden); const groups = new Float32Array(hidden); const blocks = new Float32Array(hidden); const totals = new Float32Array(hidden);' : ''}
    for (let row = 0; row < rows; row++) {
      const base = row * hidden;
      const r = invRms[row];
      ${forHost(withReads(RMS_NORM.backwardRow, at))}
      for (let j = 0; j < hidden; j++) {
        dx[base + j] = ${forHost(withReads(RMS_NORM.dx, at))};
        ${weightGrad ? `runs[j] = Math.fround(runs[j] + ${dwTerm});` : ''}
      }
      ${
        weightGrad
          ? `if (row % 32 === 31) {
        ${fold('runs', 'groups')}
        if (row % 1024 === 1023) {
          ${fold('groups', 'blocks')}
          if (row % 32768 === 32767) {
            ${fold('blocks', 'totals')}
          }
        }
      }`
          : ''
      }
    }
    ${weightGrad ? 'for (let j = 0; j < hidden; j++) dw[j] = Math.fround(totals[j] + Math.fround(blocks[j] + Math.fround(groups[j] + runs[j])));' : ''}`,
  );
}

const hostBackward = { withWeight: hostBackwardLoop(true), withoutWeight: hostBackwardLoop(false) };

// ---- the kernels

export interface RmsNormForward {
  y: Float32Array;
  /** r of each row, kept for the backward. */
  invRms: Float32Array;
}

export interface RmsNormBackward {
  dx: Float32Array;
  /** Empty when the weight's gradient was not asked for. */
  dw: Float32Array;
}

const forward = defineKernel({
  name: 'rmsNorm.forward',
  gpujs: gpujsForward,
  cpu: {
    kind: 'host-loop',
    run: (x: TypedData, w: TypedData, rows: number, hidden: number, eps: number): RmsNormForward => {
      const y = outputArray(rows * hidden); // the loop writes every element
      const invRms = new Float32Array(rows); // kept by the tape for the backward: never an arena array
      hostForward(x, w, y, invRms, rows, hidden, eps);
      return { y, invRms };
    },
  },
  agreement: { tolerance: 'fused', why: 'r is the same bits; the host loop computes x r (1 + w) in float64 and rounds once, where the webasm kernel rounds each of its three operations' },
});

const backward = defineKernel({
  name: 'rmsNorm.backward',
  gpujs: gpujsBackward,
  cpu: {
    kind: 'host-loop',
    run: (g: TypedData, x: TypedData, w: TypedData, invRms: TypedData, rows: number, hidden: number, weightGrad: boolean): RmsNormBackward => {
      const dx = outputArray(rows * hidden); // the loop writes every element
      const dw = new Float32Array(weightGrad ? hidden : 0);
      (weightGrad ? hostBackward.withWeight : hostBackward.withoutWeight)(g, x, w, invRms, dx, dw, rows, hidden, 1 / hidden);
      return { dx, dw };
    },
  },
  agreement: 'same-bits',
});

/** y and the rows' r for contiguous x [rows, hidden] (rows, hidden >= 1) and w [hidden]. */
export function runRmsNorm(x: TypedData, w: TypedData, rows: number, hidden: number, eps: number): RmsNormForward {
  return forward(x, w, rows, hidden, eps);
}

/** dx [rows, hidden] and (with weightGrad) dw [hidden] for the incoming g, from the forward's x, w and r. */
export function runRmsNormBackward(g: TypedData, x: TypedData, w: TypedData, invRms: TypedData, rows: number, hidden: number, weightGrad: boolean): RmsNormBackward {
  return backward(g, x, w, invRms, rows, hidden, weightGrad);
}
