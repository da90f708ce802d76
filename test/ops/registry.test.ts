// The op registry (lib/ops/registry.ts), walked entry by entry: every op has
// a reference, a gradient declaration (a rule in the table, the registered ops
// it is built from, or a reason it has none) and kernels that exist; and, on
// every backend, its forward matches the reference, its gradients match
// central differences of the reference, and it launches only the kernels it
// declares. Then the reverse: every recorded op name has a rule, every rule
// belongs to an op, every op lib/ops/index.ts exports is registered. And
// bfloat16 (weights kept as stored): each op, given a bfloat16 tensor in
// place of each float32 one of its sample, either reads it (the weight slots
// of linear, matmul and embedding, and the views) with the result of the
// widened tensor, bit for bit, or refuses it saying why.

import { describe, expect, test } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ops from '../../lib/ops/index.ts';
import { GRADIENTS, OP_REGISTRY, type OpEntry } from '../../lib/ops/index.ts';
import { tensor, uniform } from '../../lib/tensor/creation.ts';
import type { Tensor } from '../../lib/tensor/tensor.ts';
import { hasGradientRule, noGrad } from '../../lib/autograd/tape.ts';
import * as R from '../../reference/index.ts';
import type { RefTensor } from '../../reference/tensor.ts';
import { kernelNames, kernelStats, resetKernelStats } from '../../kernels/index.ts';
import { TOLERANCES } from '../../kernels/tolerances.ts';
import { describeEachBackend, expectClose, finiteDifference, toRef, weightedSum } from '../helpers.ts';

const ENTRIES = Object.entries(OP_REGISTRY);
/** Samples vary their shapes and options by seed modulo 2, 3 and 4; these cover every case. */
const SEEDS = [1, 2, 3, 4];
/** Exports of lib/ops/index.ts that are functions but not ops. */
const NOT_OPS = new Set(['expectFloat', 'expectInt', 'expectRank']);
/** The kernel the tape adds gradients with, which any op's backward may launch. */
const TAPE_KERNELS = ['elementwise.add'];

/** The kernels an op may launch: its own, those of the ops it is built from (transitively), and the tape's. */
function allowedKernels(name: string, seen = new Set<string>()): Set<string> {
  const allowed = new Set(TAPE_KERNELS);
  if (seen.has(name)) return allowed;
  seen.add(name);
  const entry = OP_REGISTRY[name];
  for (const kernel of entry.kernels) allowed.add(kernel);
  for (const part of composedOf(entry)) for (const kernel of allowedKernels(part, seen)) allowed.add(kernel);
  return allowed;
}

function composedOf(entry: OpEntry): readonly string[] {
  return 'composedOf' in entry.gradient ? (entry.gradient.composedOf ?? []) : [];
}

function rulesOf(entry: OpEntry): readonly string[] {
  return 'rules' in entry.gradient ? entry.gradient.rules : [];
}

describe('the registry', () => {
  const referenceFunctions = new Set<unknown>(Object.values(R));
  const known = new Set(kernelNames());

  test.each(ENTRIES)('%s: a reference in reference/, a gradient declaration, kernels that exist', (name, entry) => {
    expect(referenceFunctions.has(entry.reference), `${name}: its reference is not exported by reference/index.ts`).toBe(true);
    const gradient = entry.gradient;
    if ('notDifferentiable' in gradient) {
      expect(gradient.notDifferentiable.length, `${name}: say why it has no gradient`).toBeGreaterThan(0);
      expect(entry.sample(1).differentiable, `${name}: not differentiable, yet its sample asks for gradients`).toEqual([]);
    } else {
      expect(rulesOf(entry).length + composedOf(entry).length, `${name}: neither rules nor composedOf`).toBeGreaterThan(0);
      for (const rule of rulesOf(entry)) expect(rule in GRADIENTS, `${name}: rule ${rule} is not in the gradient table`).toBe(true);
      for (const part of composedOf(entry)) expect(part in OP_REGISTRY, `${name}: composedOf names ${part}, which is not registered`).toBe(true);
      expect(entry.sample(1).differentiable.length, `${name}: differentiable, but its sample checks no gradient`).toBeGreaterThan(0);
    }
    for (const kernel of entry.kernels) expect(known.has(kernel), `${name}: kernel ${kernel} does not exist`).toBe(true);
  });

  test('every rule in the gradient table belongs to a registered op', () => {
    const claimed = new Set(ENTRIES.flatMap(([, entry]) => rulesOf(entry)));
    expect(Object.keys(GRADIENTS).filter((rule) => !claimed.has(rule))).toEqual([]);
  });

  test('every op name recorded anywhere in lib/ has a rule in the gradient table (or, for the checkpoint, one registered with the tape)', () => {
    const calls = recordCalls(path.join(repositoryRoot(), 'lib'));
    expect(calls.length).toBeGreaterThan(30);
    const computed = calls.filter((c) => c.op === null).map((c) => c.where);
    expect(computed, 'record() calls whose op name is not a string literal').toEqual([]);
    const registered = (op: string) => op in GRADIENTS || (op === 'checkpoint' && hasGradientRule(op)); // lib/autograd/checkpoint.ts
    const missing = calls.filter((c) => c.op !== null && !registered(c.op)).map((c) => `${c.op} (${c.where})`);
    expect(missing).toEqual([]);
  });

  test('every op lib/ops/index.ts exports is registered under its own name, with that function as its forward', () => {
    for (const [name, value] of Object.entries(ops)) {
      if (typeof value !== 'function' || NOT_OPS.has(name)) continue;
      expect(OP_REGISTRY[name]?.forward, `${name} is exported by lib/ops/index.ts but not registered`).toBe(value);
    }
    for (const [name, entry] of ENTRIES) {
      expect((ops as Record<string, unknown>)[name], `${name} is registered but lib/ops/index.ts does not export it`).toBe(entry.forward);
    }
  });
});

/** Where an op reads a bfloat16 tensor (sample positions): the weight operands, and the input of a view, which moves it unread. */
const READS_BFLOAT16: Record<string, number[]> = {
  linear: [1],
  linearSoftcap: [1],
  matmul: [1],
  embedding: [1],
  ...Object.fromEntries(['reshape', 'permute', 'transpose', 'slice', 'narrow', 'expand', 'squeeze', 'unsqueeze', 'contiguous'].map((view) => [view, [0]])),
};

describe('bfloat16 tensors (weights kept as stored)', () => {
  test.each(ENTRIES)('%s: read where a weight goes (the same bits as the widened tensor), refused with the reason everywhere else', (name, entry) => {
    for (const seed of SEEDS) {
      const sample = entry.sample(seed);
      sample.tensors.forEach((t, i) => {
        if (t.dtype !== 'float32') return;
        const bf16 = tensor(t.floatData(), { dtype: 'bfloat16', shape: t.shape }); // rounded to bfloat16
        const withBf16 = sample.tensors.map((u, j) => (j === i ? bf16 : u));
        const run = (tensors: Tensor[]) => noGrad(() => sample.forward(entry.forward as never, tensors));
        if ((READS_BFLOAT16[name] ?? []).includes(i)) {
          const widened = run(sample.tensors.map((u, j) => (j === i ? bf16.float() : u)));
          const result = run(withBf16);
          expect(Array.from(result.floatData()), `${name} sample ${seed}, bfloat16 tensor ${i}`).toEqual(Array.from(widened.floatData()));
        } else {
          // named by the op, or by the op it is built from (addScalar by add)
          expect(() => run(withBf16), `${name} sample ${seed}, bfloat16 tensor ${i}`).toThrow(
            /^\w+: bfloat16 tensors are weights kept in their stored dtype; only linear, matmul \(as the weight, the second operand\) and embedding \(as the table\) read them/,
          );
        }
      });
    }
  });
});

describeEachBackend('every registered op', () => {
  test.each(ENTRIES)('%s: forward vs reference, gradients vs finite differences, only its kernels', (name, entry) => {
    for (const seed of SEEDS) checkSample(name, entry, seed);
  });
});

function checkSample(name: string, entry: OpEntry, seed: number): void {
  const what = `${name} (seed ${seed})`;
  const sample = entry.sample(seed);
  const refs = sample.tensors.map(toRef);
  resetKernelStats();
  const expected = asRefTensor(sample.reference(entry.reference, refs));
  expectClose(sample.forward(entry.forward, sample.tensors), expected, entry.tolerance, what);

  if (sample.differentiable.length > 0) {
    for (const k of sample.differentiable) sample.tensors[k].requireGrad();
    const out = sample.forward(entry.forward, sample.tensors);
    const weights = uniform(out.shape, -1, 1, { seed: seed + 1000 });
    out.backward(weights);
    const f = (inputs: RefTensor[]) => weightedSum(asRefTensor(sample.reference(entry.reference, inputs)), toRef(weights));
    for (const k of sample.differentiable) {
      expectClose(sample.tensors[k].grad!, finiteDifference(f, refs, k), TOLERANCES.gradient, `d ${what} / d input ${k}`);
    }
  }

  const allowed = allowedKernels(name);
  const launched = [...kernelStats().keys()];
  expect(launched.filter((kernel) => !allowed.has(kernel)), `${what} launched kernels its registry entry does not declare`).toEqual([]);
}

/** A scalar loss from the reference as a rank-0 reference tensor. */
function asRefTensor(value: RefTensor | number): RefTensor {
  return typeof value === 'number' ? { shape: [], data: Float64Array.of(value) } : value;
}

function repositoryRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
}

interface RecordCall {
  /** The op name when the second argument is a string literal, else null. */
  op: string | null;
  where: string;
}

/** Every record(...) call in the .ts files under `dir`, except record's own definitions. */
function recordCalls(dir: string): RecordCall[] {
  const definitions = new Set([path.join('lib', 'autograd', 'tape.ts'), path.join('lib', 'ops', 'record.ts')]);
  const calls: RecordCall[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const relative = path.relative(repositoryRoot(), file);
    if (definitions.has(relative)) continue;
    const source = blankComments(readFileSync(file, 'utf8'));
    for (const match of source.matchAll(/(?<![\w.$])record\(/g)) {
      const line = source.slice(0, match.index).split('\n').length;
      calls.push({ op: secondArgumentLiteral(source, match.index + match[0].length), where: `${relative}:${line}` });
    }
  }
  return calls;
}

/** The source with comments replaced by spaces (line numbers kept), so a record(...) in a comment is not a call. */
function blankComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, (comment) => comment.replace(/[^\n]/g, ' '));
}

/** The string literal that is the second argument of the call whose arguments start at `start`, or null. */
function secondArgumentLiteral(source: string, start: number): string | null {
  let depth = 0;
  let i = start;
  for (; i < source.length; i++) {
    const c = source[i];
    if (c === "'" || c === '"' || c === '`') i = source.indexOf(c, i + 1);
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) {
      if (depth === 0) return null; // one argument only
      depth--;
    } else if (c === ',' && depth === 0) break;
  }
  const literal = /^\s*'(\w+)'/.exec(source.slice(i + 1));
  return literal === null ? null : literal[1];
}
