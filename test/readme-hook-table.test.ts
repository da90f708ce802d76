// The README's hook point table is the table of lib/model/hook-points.ts,
// row for row: a point added, renamed or reordered in one must be in the other.

import { expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { LAYER_POINTS, LM_HEAD_POINTS, MODEL_END_POINTS, MODEL_START_POINTS } from '../lib/model/hook-points.ts';

test('README "Inside the model: hook points" lists every point with its shape and step, in forward order', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Inside the model: hook points'), readme.indexOf('## Golden parity'));
  const rows = section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| /, '').replace(/ \|$/, '').replace(/\\\|/g, '|')));
  const expected = [
    ...MODEL_START_POINTS.map((p) => [`\`${p.name}\``, p.shape, p.step]),
    ...LAYER_POINTS.map((p) => [`\`layers.<i>.${p.name}\``, p.shape, p.step]),
    ...[...MODEL_END_POINTS, ...LM_HEAD_POINTS].map((p) => [`\`${p.name}\``, p.shape, p.step]),
  ];
  expect(rows).toEqual(expected);
});
