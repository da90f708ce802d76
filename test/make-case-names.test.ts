// golden/make_case.py (Python, run where Transformers is) names its trace
// tensors after our hook points; CI has no Transformers, so this checks its
// lists against lib/model/hook-points.ts as text, list for list.

import { expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { LAYER_POINTS, LM_HEAD_POINTS, MODEL_END_POINTS, MODEL_START_POINTS } from '../lib/model/hook-points.ts';

const source = readFileSync(new URL('../golden/make_case.py', import.meta.url), 'utf8');

/** The strings of the Python list `NAME = [...]`. */
function pythonList(name: string): string[] {
  const match = new RegExp(`^${name} = \\[([^\\]]*)\\]`, 'm').exec(source);
  if (match === null) throw new Error(`make_case.py defines no list ${name}`);
  return [...match[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
}

test('make_case.py traces the hook points of lib/model/hook-points.ts, in the same order', () => {
  expect(pythonList('MODEL_START_POINTS')).toEqual(MODEL_START_POINTS.map((p) => p.name));
  expect(pythonList('LAYER_POINTS')).toEqual(LAYER_POINTS.map((p) => p.name));
  expect(pythonList('MODEL_END_POINTS')).toEqual(MODEL_END_POINTS.map((p) => p.name));
  expect(pythonList('LM_HEAD_POINTS')).toEqual(LM_HEAD_POINTS.map((p) => p.name));
});
