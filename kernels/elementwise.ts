// Element-wise kernels: one table of formulas, one generated kernel per
// (formula, broadcast pattern). Operand values are named a, b, c in order and
// an optional scalar argument is s. A kernel reads each operand through its
// own box; an operand that is broadcast along an axis reads coordinate 0
// there, so broadcasting never materialises the smaller operand.
//
// Each formula is one kernel of kernels/registry.ts, 'elementwise.<name>',
// whose two implementations are generated from the same formula text:
//   gpujs  a GPU.js kernel per broadcast pattern;
//   cpu    for the transcendental formulas (SIMD_MAP_OPS) the SIMD kernels of
//          wasm/vector-math.ts; for every other formula, one or two arithmetic
//          instructions per element, a plain JavaScript loop (a GPU.js launch
//          copies each operand into its memory and back, which costs more than
//          such arithmetic). The loop computes like GPU.js's cpu backend
//          (JavaScript numbers, rounded to float32 when stored), so a
//          one-operation formula gives the correctly rounded float32 result,
//          the same bits as the GPU.js webasm kernel.

import { outputArray } from '../lib/tensor/arena.ts';
import type { TypedData } from '../lib/tensor/dtype.ts';
import { type Box, MAX_KERNEL_AXIS, boxed, launch } from './launch.ts';
import { defineKernel, type Agreement } from './registry.ts';
import { SIMD_MAP_OPS, type SimdMapOp, simdMap } from './wasm/vector-math.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU's tanh approximation in pieces, shared by the element-wise formulas
 * and the gated kernel (gated-gelu.ts): t of the operand a, then GELU and its
 * derivative from t.
 */
export const GELU_TANH = {
  t: `const t = Math.tanh(${SQRT_2_OVER_PI} * (a + 0.044715 * a * a * a));`,
  value: '0.5 * a * (1 + t)',
  derivative: `0.5 * (1 + t) + 0.5 * a * (1 - t * t) * ${SQRT_2_OVER_PI} * (1 + 0.134145 * a * a)`,
} as const;

/** Each formula is the body of a kernel; `return` the output value. */
export const ELEMENTWISE_FORMULAS = {
  // arithmetic (numpy broadcasting)
  add: 'return a + b;',
  sub: 'return a - b;',
  mul: 'return a * b;',
  div: 'return a / b;',
  pow: 'return Math.pow(a, b);',
  // scalar variants: s is a kernel argument, so no recompilation per value
  addScalar: 'return a + s;',
  mulScalar: 'return a * s;',
  powScalar: 'return Math.pow(a, s);',
  rsubScalar: 'return s - a;',
  rdivScalar: 'return s / a;',
  // unary
  neg: 'return -a;',
  sqrt: 'return Math.sqrt(a);',
  rsqrt: 'return 1 / Math.sqrt(a);',
  exp: 'return Math.exp(a);',
  log: 'return Math.log(a);',
  tanh: 'return Math.tanh(a);',
  // GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  geluTanh: `${GELU_TANH.t} return ${GELU_TANH.value};`,
  // its derivative: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
  geluTanhGrad: `${GELU_TANH.t} return ${GELU_TANH.derivative};`,
  // the gated MLP's gelu(gate) up in one pass. Math.fround rounds the GELU as the geluTanh kernel's output is
  // rounded (a no-op on webasm, where every value is a float32), so on every backend the result has the bits of
  // geluTanh followed by mul
  geluTanhMul: `${GELU_TANH.t} return Math.fround(${GELU_TANH.value}) * b;`,
  // the logit softcap s tanh(x / s), and its gradient from the output a: b (1 - (a / s)^2)
  softcap: 'return s * Math.tanh(a / s);',
  softcapGrad: 'const t = a / s; return b * (1 - t * t);',
  // softmax from a log-sum-exp b: exp(a - b), and log-softmax a - b
  expSub: 'return Math.exp(a - b);',
  // selection: a is the condition (non-zero = true)
  where: 'if (a !== 0) { return b; } return c;',
  whereScalar: 'if (a !== 0) { return s; } return b;',
  selectIf: 'if (a !== 0) { return b; } return 0;',
  selectUnless: 'if (a !== 0) { return 0; } return b;',
  // a copy (expands a broadcast operand)
  copy: 'return a;',
  // comparisons produce 1 or 0
  equalTo: 'if (a === b) { return 1; } return 0;',
  greaterThan: 'if (a > b) { return 1; } return 0;',
} as const;

export type ElementwiseOp = keyof typeof ELEMENTWISE_FORMULAS;

const OPERAND_NAMES = ['a', 'b', 'c'];

/**
 * How an element-wise launch reads its operands: the output box and, per
 * operand, which of x, y, z it follows (true) or pins to 0 (broadcast).
 */
export interface BroadcastLayout {
  output: Box;
  follows: [boolean, boolean, boolean][];
}

/**
 * Coalesces output axes whose operands are all either present or broadcast
 * together, so up to three boxed axes describe the whole launch. Returns null
 * when more than three groups remain or a group exceeds the kernel axis limit;
 * the caller then materialises the operands and launches flat.
 */
export function planBroadcast(outShape: readonly number[], operandShapes: readonly (readonly number[])[]): BroadcastLayout | null {
  const rank = outShape.length;
  const padded = operandShapes.map((s) => [...new Array<number>(rank - s.length).fill(1), ...s]);
  const groups: { size: number; present: boolean[] }[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const size = outShape[axis];
    if (size === 1) continue;
    const present = padded.map((s) => s[axis] !== 1);
    const last = groups[groups.length - 1];
    if (last && last.present.every((p, i) => p === present[i])) last.size *= size;
    else groups.push({ size, present });
  }
  if (groups.length > 3 || groups.some((g) => g.size > MAX_KERNEL_AXIS)) return null;
  while (groups.length < 3) groups.unshift({ size: 1, present: operandShapes.map(() => false) });
  const [zGroup, yGroup, xGroup] = groups;
  return {
    output: [xGroup.size, yGroup.size, zGroup.size],
    follows: operandShapes.map((_, i) => [xGroup.present[i], yGroup.present[i], zGroup.present[i]]),
  };
}

function operandBox(layout: BroadcastLayout, i: number): Box {
  const [fx, fy, fz] = layout.follows[i];
  return [fx ? layout.output[0] : 1, fy ? layout.output[1] : 1, fz ? layout.output[2] : 1];
}

/** Kernel source for `op` when operand i follows the axes in follows[i]. */
function kernelSource(op: ElementwiseOp, follows: [boolean, boolean, boolean][], hasScalar: boolean): string {
  const params = follows.map((_, i) => OPERAND_NAMES[i].toUpperCase());
  if (hasScalar) params.push('s');
  const reads = follows.map(([fx, fy, fz], i) => {
    const z = fz ? 'this.thread.z' : '0';
    const y = fy ? 'this.thread.y' : '0';
    const x = fx ? 'this.thread.x' : '0';
    return `const ${OPERAND_NAMES[i]} = ${params[i]}[${z}][${y}][${x}];`;
  });
  return `function(${params.join(', ')}) { ${reads.join(' ')} ${ELEMENTWISE_FORMULAS[op]} }`;
}

const sources = new Map<string, string>();

/** The GPU.js kernel for `op` and this broadcast pattern, on the current backend. */
function gpujsElementwise(op: ElementwiseOp, layout: BroadcastLayout, operands: TypedData[], scalar?: number): Float32Array {
  const pattern = layout.follows.map((f) => f.map((p) => (p ? '1' : '0')).join('')).join('.');
  const variant = `${pattern}${scalar === undefined ? '' : '.s'}`;
  const key = `${op}.${variant}`;
  let source = sources.get(key);
  if (source === undefined) {
    source = kernelSource(op, layout.follows, scalar !== undefined);
    sources.set(key, source);
  }
  const args = operands.map((data, i) => boxed(data, operandBox(layout, i)));
  return launch({ name: `elementwise.${op}`, variant, source, output: layout.output, args: scalar === undefined ? args : [...args, scalar] });
}

type HostLoop = (operands: TypedData[], s: number, out: Float32Array, X: number, Y: number, Z: number) => void;
const hostLoops = new Map<string, HostLoop>();

/**
 * The JavaScript loop for `op` over `layout`: each operand's row start and
 * its read along x are written out for its own broadcast pattern, so the
 * engine compiles a tight loop with the formula inlined.
 */
function hostLoopSource(op: ElementwiseOp, follows: [boolean, boolean, boolean][]): string {
  const names = follows.map((_, i) => OPERAND_NAMES[i]);
  const rowStarts = follows.map(([fx, fy, fz], i) => {
    const bx = fx ? 'X' : '1';
    const by = fy ? 'Y' : '1';
    return `const r${i} = ${fz ? `z * ${by} * ${bx}` : '0'} + ${fy ? `y * ${bx}` : '0'};`;
  });
  const reads = follows.map(([fx], i) => `O${i}[r${i}${fx ? ' + x' : ''}]`);
  return `
    const [${follows.map((_, i) => `O${i}`).join(', ')}] = operands;
    const f = (${names.join(', ')}, s) => { ${ELEMENTWISE_FORMULAS[op]} };
    let o = 0;
    for (let z = 0; z < Z; z++) {
      for (let y = 0; y < Y; y++) {
        ${rowStarts.join(' ')}
        for (let x = 0; x < X; x++) out[o++] = f(${reads.join(', ')}, s);
      }
    }`;
}

function hostElementwise(op: ElementwiseOp, layout: BroadcastLayout, operands: TypedData[], scalar?: number): Float32Array {
  const key = `${op}|${layout.follows.map((f) => f.join()).join('|')}`;
  let loop = hostLoops.get(key);
  if (loop === undefined) {
    // the formula table is this file's own constant text, never user input
    loop = new Function('operands', 's', 'out', 'X', 'Y', 'Z', hostLoopSource(op, layout.follows)) as HostLoop;
    hostLoops.set(key, loop);
  }
  const [X, Y, Z] = layout.output;
  const out = outputArray(X * Y * Z); // the loop writes every element
  loop(operands, Math.fround(scalar ?? 0), out, X, Y, Z); // kernels see scalar arguments as float32
  return out;
}

/** Whether every operand has the output's own shape (follows every axis of size > 1). */
const isFlat = (layout: BroadcastLayout) => layout.follows.every((f) => f.every((follows, axis) => follows || layout.output[axis] === 1));

/** The SIMD kernel of wasm/vector-math.ts, over operands expanded to the output's shape when they are broadcast. */
function simdElementwise(op: SimdMapOp, layout: BroadcastLayout, operands: TypedData[], scalar?: number): Float32Array {
  if (isFlat(layout)) return simdMap(op, operands, scalar);
  const expanded = operands.map((_, i) => hostElementwise('copy', { output: layout.output, follows: [layout.follows[i]] }, [operands[i]]));
  return simdMap(op, expanded, scalar);
}

const isSimdMapOp = (op: ElementwiseOp): op is SimdMapOp => (SIMD_MAP_OPS as readonly string[]).includes(op);

/** How each formula's CPU path agrees with its GPU.js kernel on webasm. */
function agreement(op: ElementwiseOp): Agreement {
  if (op === 'softcapGrad') return 'same-bits'; // SIMD, in the formula's own float32 steps
  if (isSimdMapOp(op)) return { tolerance: 'transcendental', why: 'the SIMD kernels compute exp and tanh as polynomials (about 1-2 ulp)' };
  if (MULTI_OPERATION.has(op)) return { tolerance: 'transcendental', why: 'the host loop computes the formula in float64 and rounds once, where the webasm kernel rounds every operation' };
  return 'same-bits'; // one operation: the correctly rounded float32 result either way
}

/** Formulas of more than one rounding operation that run as host loops. */
const MULTI_OPERATION = new Set<ElementwiseOp>(['rsqrt', 'expSub']);

const KERNELS = Object.fromEntries(
  (Object.keys(ELEMENTWISE_FORMULAS) as ElementwiseOp[]).map((op) => [
    op,
    defineKernel({
      name: `elementwise.${op}`,
      gpujs: (layout: BroadcastLayout, operands: TypedData[], scalar?: number) => gpujsElementwise(op, layout, operands, scalar),
      cpu: isSimdMapOp(op)
        ? { kind: 'wasm-simd', run: (layout: BroadcastLayout, operands: TypedData[], scalar?: number) => simdElementwise(op, layout, operands, scalar) }
        : { kind: 'host-loop', run: (layout: BroadcastLayout, operands: TypedData[], scalar?: number) => hostElementwise(op, layout, operands, scalar) },
      agreement: agreement(op),
    }),
  ]),
) as Record<ElementwiseOp, (layout: BroadcastLayout, operands: TypedData[], scalar?: number) => Float32Array>;

/**
 * Runs `op` over contiguous operands laid out by `layout` (from planBroadcast)
 * on the current compute path. Returns the output values in row-major order of
 * the output box.
 */
export function runElementwise(op: ElementwiseOp, layout: BroadcastLayout, operands: TypedData[], scalar?: number): Float32Array {
  return KERNELS[op](layout, operands, scalar);
}

/**
 * Runs `op` over operands that all have the same number of elements, in
 * chunks of at most 2^24 so that no launch indexes past float32's exact range.
 */
export function runElementwiseFlat(op: ElementwiseOp, operands: TypedData[], scalar?: number): Float32Array {
  const total = operands[0].length;
  const out = outputArray(total);
  for (let start = 0; start < total; start += MAX_KERNEL_AXIS) {
    const length = Math.min(MAX_KERNEL_AXIS, total - start);
    const layout: BroadcastLayout = { output: [length, 1, 1], follows: operands.map(() => [true, false, false]) };
    const chunk = operands.map((data) => data.subarray(start, start + length) as TypedData);
    out.set(runElementwise(op, layout, chunk, scalar), start);
  }
  return out;
}
