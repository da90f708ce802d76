// Tensors with more than 2^24 elements. On GPU.js's webasm backend every
// number inside a kernel is a float32, so a flat index above 2^24 = 16,777,216
// reads the wrong element (2^24 + 1 rounds to 2^24). Our kernels index every
// array by coordinates, each below 2^24, which GPU.js combines in integer
// arithmetic. These tests use a table of 131,075 x 128 = 16,777,600 elements
// (just past 2^24) and check elements beyond the limit exactly; the first
// test shows the trap is real on this very data, so the others can fail.

import { beforeAll, expect, test } from 'vitest';
import { Tensor } from '../lib/tensor/tensor.ts';
import { tensor } from '../lib/tensor/creation.ts';
import * as ops from '../lib/ops/index.ts';
import { KernelLimitError, boxed, launch } from '../kernels/launch.ts';
import { gpuFor } from '../kernels/backend.ts';
import { describeEachBackend } from './helpers.ts';

const ROWS = 131_075;
const COLS = 128;
// Values from a hash of the position, so that neighbours differ and a wrong
// read cannot go unnoticed; expectations are read from the data on the host,
// where indices are exact doubles.
const valueAt = (r: number, c: number) => Math.fround(Math.sin((r * COLS + c) * 0.7) * 1000);

let table: Tensor;
beforeAll(() => {
  const data = new Float32Array(ROWS * COLS);
  for (let r = 0; r < ROWS; r++) for (let c = 0; c < COLS; c++) data[r * COLS + c] = valueAt(r, c);
  table = Tensor.fromData(data, [ROWS, COLS]);
  expect(table.size).toBeGreaterThan(2 ** 24);
});

const lastRows = [ROWS - 3, ROWS - 2, ROWS - 1];

test('the trap: GPU.js webasm reads the wrong element by flat index past 2^24, and launch() refuses such a box', () => {
  const readFlat = gpuFor('webasm').createKernel(
    function (this: { thread: { x: number } }, a: number[], offset: number) {
      return a[offset + this.thread.x];
    },
    { output: [1] },
  );
  const flat = 2 ** 24 + 1; // an odd index: float32 rounds it to its even neighbour
  const data = table.contiguousData();
  const result = readFlat(data as unknown as number[], flat) as Float32Array;
  expect(data[flat]).not.toBe(data[flat - 1]);
  expect(result[0]).toBe(data[flat - 1]);
  readFlat.destroy();
  // Our launcher never builds such a kernel: every axis of every box must stay within 2^24.
  function identity(this: { thread: { x: number } }, a: number[]): number {
    return a[this.thread.x];
  }
  expect(() => launch({ name: 'test.flat', source: identity, output: [1, 1, 1], args: [boxed(data, [ROWS * COLS, 1, 1])] })).toThrow(KernelLimitError);
});

describeEachBackend('tensors larger than 2^24 elements', () => {
  test('embedding gather reads rows beyond the limit exactly', () => {
    const out = ops.embedding(tensor(lastRows, { dtype: 'int32' }), table);
    const expected = lastRows.map((r) => Array.from({ length: COLS }, (_, c) => valueAt(r, c)));
    expect(out.toArray()).toEqual(expected);
  });

  test('element-wise ops over all 16.8M elements are exact at the end', () => {
    const doubled = ops.mul(table, 2).contiguousData();
    const last = ROWS * COLS - 1;
    expect(doubled[last]).toBe(2 * valueAt(ROWS - 1, COLS - 1));
    expect(doubled[2 ** 24 + 1]).toBe(2 * table.contiguousData()[2 ** 24 + 1]);
  });

  test('reductions over a table larger than 2^24 see every element', () => {
    const rowMax = ops.max(table, 1).contiguousData();
    for (const r of lastRows) expect(rowMax[r]).toBe(Math.max(...Array.from({ length: COLS }, (_, c) => valueAt(r, c))));
    const columnMax = ops.max(table, 0).contiguousData();
    let expected = -Infinity;
    for (let r = 0; r < ROWS; r++) expected = Math.max(expected, valueAt(r, 5));
    expect(columnMax[5]).toBe(expected);
    const lastColumn = ops.max(table.narrow(0, ROWS - 2, 2), 0).contiguousData();
    expect(lastColumn[COLS - 1]).toBe(Math.max(valueAt(ROWS - 2, COLS - 1), valueAt(ROWS - 1, COLS - 1)));
  });

  test('a product against the whole table (a tied LM head) reads the last rows exactly', () => {
    const x = tensor([Array.from({ length: COLS }, (_, c) => (c === 7 ? 1 : 0))]); // picks column 7
    const logits = ops.linear(x, table).contiguousData();
    for (const r of lastRows) expect(logits[r]).toBe(valueAt(r, 7));
  });
});
