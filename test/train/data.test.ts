// Training data: token streams and token files cut into rows, JSONL texts
// tokenized (concatenated, or one padded text per row), eval splits, batches
// and their counted tokens, the seeded epoch-by-epoch order and its restore,
// and the errors that name the file, line and position.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { BatchStream, Dataset, DataError, IGNORE_INDEX, jsonlDataset, makeBatch, readTokenFile, sequentialBatches, splitDataset, tokenBlocks, tokenFileDataset } from '../../lib/train/data.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('data');
let fileCount = 0;
function file(text: string, ext = 'txt'): string {
  const name = path.join(dir, `f${fileCount++}.${ext}`);
  fs.writeFileSync(name, text);
  return name;
}

const tokenizer = HfTokenizer.fromPretrained(FIXTURE_DIR);
const rowsOf = (data: Dataset, values: Int32Array | null = data.inputIds) =>
  Array.from({ length: data.rows }, (_, r) => [...values!.subarray(r * data.seqLen, (r + 1) * data.seqLen)]);

describe('token streams', () => {
  test('are cut into rows of seqLen with labels = inputs; the tail that does not fill a row is left out', () => {
    const data = tokenBlocks([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4);
    expect(rowsOf(data)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(rowsOf(data, data.labels)).toEqual(rowsOf(data));
    expect(data.attentionMask).toBeNull();
    expect(data.describe()).toBe('2 rows of 4 tokens from token ids (the last 2 of 10 tokens do not fill a row and are left out)');
  });

  test('a token file: integers separated by whitespace or commas, over any number of lines', () => {
    expect(readTokenFile(file('1 2, 3\n4,5\t6\r\n\n  7  \n'))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const data = tokenFileDataset(file('5 6 7 8 9 10'), 3, 11);
    expect(rowsOf(data)).toEqual([
      [5, 6, 7],
      [8, 9, 10],
    ]);
  });

  test('errors name the file, the line and the place in it', () => {
    const bad = file('1 2\n3 4 x5');
    expect(() => readTokenFile(bad)).toThrow(new DataError(`${bad}:2, token 3 of the line: "x5" is not an integer token id`));
    expect(() => readTokenFile(file('1 2.5'))).toThrow(/:1, token 2 of the line: "2.5" is not an integer token id/);
    const outside = file('1 2\n3, 40');
    expect(() => tokenFileDataset(outside, 2, 32)).toThrow(new DataError(`${outside}:2, token 2 of the line: token id 40 is outside the model's vocabulary [0, 32)`));
    expect(() => readTokenFile(file('1 -1'), 32)).toThrow(/token id -1 is outside/);
    const empty = file(' \n\n');
    expect(() => readTokenFile(empty)).toThrow(new DataError(`${empty}: no token ids (the file is empty)`));
    expect(() => readTokenFile(path.join(dir, 'missing.txt'))).toThrow(/missing.txt: cannot be read \(ENOENT\)/);
    expect(() => tokenFileDataset(file('1 2 3'), 4)).toThrow(/3 tokens, fewer than one row of 4/);
    expect(() => tokenBlocks([1, 2, 3], 1)).toThrow(new DataError('seqLen must be an integer >= 2 (a row needs a token to predict from and one to predict), got 1'));
    expect(() => tokenBlocks([], 2)).toThrow('token ids: no tokens');
    expect(() => tokenBlocks([1, 7, 2], 2, { vocabSize: 5 })).toThrow("token ids: token 1: token id 7 is outside the model's vocabulary [0, 5)");
    expect(() => tokenBlocks([1, 0.5], 2)).toThrow('token 1 is 0.5, not an integer id');
  });
});

describe('JSONL texts', () => {
  const texts = ['Hello world', 'Hi', 'the thing'];
  const jsonl = file(`${texts.map((text) => JSON.stringify({ text, source: 'x' })).join('\n')}\n\n`, 'jsonl');
  const encoded = texts.map((t) => [...tokenizer.encode(t), tokenizer.eosTokenId!]);

  test('concatenated: <bos> text <eos> after one another, cut into rows', () => {
    expect(encoded[0]).toEqual([2, 235, 240, 1]); // the fixture's <bos> = 2, <eos> = 1
    const stream = encoded.flat(); // 4 + 3 + 7 = 14 tokens
    const data = jsonlDataset(jsonl, tokenizer, { seqLen: 4, vocabSize: 256 });
    expect(rowsOf(data)).toEqual([stream.slice(0, 4), stream.slice(4, 8), stream.slice(8, 12)]);
    expect(rowsOf(data, data.labels)).toEqual(rowsOf(data));
    expect(data.attentionMask).toBeNull();
    expect(data.notes).toEqual(['the last 2 of 14 tokens do not fill a row and are left out']);
  });

  test('padded: one text per row, right-padded with the pad id, labels -100 and mask 0 on the padding, long texts cut', () => {
    const data = jsonlDataset(jsonl, tokenizer, { seqLen: 6, layout: 'pad' });
    const pad = tokenizer.padTokenId!;
    expect(rowsOf(data)).toEqual([
      [...encoded[0], pad, pad],
      [...encoded[1], pad, pad, pad],
      encoded[2].slice(0, 6),
    ]);
    expect(rowsOf(data, data.labels)).toEqual([
      [...encoded[0], -100, -100],
      [...encoded[1], -100, -100, -100],
      encoded[2].slice(0, 6),
    ]);
    expect(rowsOf(data, data.attentionMask)).toEqual([
      [1, 1, 1, 1, 0, 0],
      [1, 1, 1, 0, 0, 0],
      [1, 1, 1, 1, 1, 1],
    ]);
    expect(data.notes).toEqual(['1 of 3 examples are longer than 6 tokens and were cut to their first 6 (as TRL truncates to max_length)']);
    expect(data.positionIds).toBeNull();
    const batch = makeBatch(data, [0, 1]);
    expect(batch.lossTokens).toBe(3 + 2); // the first position predicts nothing
    expect(batch.inputTokens).toBe(4 + 3);
    expect(batch.attentionMask!.shape).toEqual([2, 6]);
  });

  test('errors name the file and line: not JSON, not an object, no "text", not a string, ids outside the model', () => {
    const notJson = file('{"text": "a"}\n\n{"text": "b"', 'jsonl');
    expect(() => jsonlDataset(notJson, tokenizer, { seqLen: 2 })).toThrow(new RegExp(`^${notJson}:3: not JSON \\(`));
    expect(() => jsonlDataset(file('{"txt": "a", "n": 1}'), tokenizer, { seqLen: 2 })).toThrow(/:1: no "text", "prompt"\/"completion" or "messages" field \(the object has "txt", "n"\)/);
    expect(() => jsonlDataset(file('{"text": 5}'), tokenizer, { seqLen: 2 })).toThrow(/:1: "text" is number, expected a string/);
    expect(() => jsonlDataset(file('{"text": null}'), tokenizer, { seqLen: 2 })).toThrow(/:1: "text" is null, expected a string/);
    expect(() => jsonlDataset(file('["text"]'), tokenizer, { seqLen: 2 })).toThrow(/:1: expected an object \{"text"\}, \{"prompt", "completion"\} or \{"messages"\}, found an array/);
    expect(() => jsonlDataset(file('\n  \n'), tokenizer, { seqLen: 2 })).toThrow(/no examples \(the file is empty or has only blank lines\)/);
    // "Hello" is one of the fixture's merges (id 235): outside a 100-token model.
    const outside = file('{"text": "ab"}\n{"text": "a Hello"}', 'jsonl');
    expect(() => jsonlDataset(outside, tokenizer, { seqLen: 2, vocabSize: 100 })).toThrow(
      new DataError(`${outside}:2, token 3 of the example: token id 235 is outside the model's vocabulary [0, 100) (the tokenizer does not fit the model?)`),
    );
    const lone = file('{"text": "\\ud800"}');
    expect(() => jsonlDataset(lone, tokenizer, { seqLen: 2 })).toThrow(new RegExp(`^${lone}:1: encode: text has a lone surrogate`));
    expect(() => jsonlDataset(jsonl, { ...tokenizer, encode: (t: string) => tokenizer.encode(t), padTokenId: null }, { seqLen: 4, layout: 'pad' })).toThrow(/padding needs a pad token/);
    expect(() => jsonlDataset(jsonl, tokenizer, { seqLen: 40 })).toThrow(/14 tokens, fewer than one row of 40/);
  });
});

describe('eval split, batches', () => {
  const data = tokenBlocks(Array.from({ length: 20 }, (_, i) => i), 2); // 10 rows

  test('a holdout fraction takes the last rows', () => {
    const { train, eval: held } = splitDataset(data, 0.2);
    expect(rowsOf(train)).toEqual(rowsOf(data).slice(0, 8));
    expect(rowsOf(held)).toEqual(rowsOf(data).slice(8));
    expect(splitDataset(data, 0.01).eval.rows).toBe(1); // at least one row
    expect(() => splitDataset(data, 0)).toThrow('the eval fraction must be in (0, 1), got 0');
    expect(() => splitDataset(data, 1)).toThrow(/got 1/);
    expect(() => splitDataset(data.slice(0, 1), 0.5)).toThrow(/1 rows cannot be split with an eval fraction of 0.5: nothing would be left to train on/);
  });

  test('sequential eval batches cover every row once; counted tokens skip the first position and -100', () => {
    const batches = [...sequentialBatches(data, 4)];
    expect(batches.map((b) => b.inputIds.shape)).toEqual([
      [4, 2],
      [4, 2],
      [2, 2],
    ]);
    expect(batches.flatMap((b) => [...b.inputIds.contiguousData()])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(batches.map((b) => b.lossTokens)).toEqual([4, 4, 2]);
    const labels = Int32Array.from([5, 6, IGNORE_INDEX, 7, 8, IGNORE_INDEX]);
    const masked = new Dataset(Int32Array.from([5, 6, 0, 7, 8, 0]), labels, Int32Array.from([1, 1, 0, 1, 1, 0]), 3, 'x');
    expect(makeBatch(masked, [0, 1]).lossTokens).toBe(2);
    expect(makeBatch(masked, [1, 1]).inputTokens).toBe(4);
  });
});

describe('the data order', () => {
  const data = tokenBlocks(Array.from({ length: 14 }, (_, i) => i), 2); // 7 rows, row r holds [2r, 2r + 1]
  const epochs = (stream: BatchStream, count: number) => Array.from({ length: count }, () => stream.nextRows(7));

  test('each epoch is a seeded permutation of the rows; the same seed gives the same order', () => {
    const [e1, e2, e3] = epochs(new BatchStream(data, 3, 5), 3);
    for (const e of [e1, e2, e3]) expect([...e].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(new Set([e1, e2, e3].map((e) => e.join())).size).toBe(3);
    expect(epochs(new BatchStream(data, 3, 5), 3)).toEqual([e1, e2, e3]);
    expect(epochs(new BatchStream(data, 3, 6), 1)[0]).not.toEqual(e1);
  });

  test('batches take the next rows across epoch boundaries, so the order does not depend on the batch size', () => {
    const rows = epochs(new BatchStream(data, 1, 5), 2).flat();
    const stream = new BatchStream(data, 3, 5);
    const batches = Array.from({ length: 4 }, () => stream.next());
    expect(batches.map((b) => [...b.inputIds.contiguousData()])).toEqual([0, 3, 6, 9].map((i) => rows.slice(i, i + 3).flatMap((r) => [2 * r, 2 * r + 1])));
    expect(stream.epoch).toBeCloseTo(12 / 7, 12);
  });

  test('a restored position (through JSON) continues exactly, at any point of any epoch', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 30 }), fc.integer(), (rows, batch, reads, seed) => {
        const d = data.slice(0, Math.min(rows, 7));
        const original = new BatchStream(d, batch, seed);
        for (let i = 0; i < reads; i++) original.nextRows(batch);
        const saved = JSON.parse(JSON.stringify(original.position()));
        const restored = new BatchStream(d, batch, 12345);
        restored.restore(saved);
        expect(restored.epoch).toBe(original.epoch);
        expect(restored.nextRows(3 * d.rows)).toEqual(original.nextRows(3 * d.rows));
      }),
      { numRuns: 100 },
    );
  });

  test('restoring onto other rows, or a position past the end, is refused', () => {
    const stream = new BatchStream(data, 2, 1);
    const other = new BatchStream(tokenBlocks(Array.from({ length: 14 }, (_, i) => i + 1), 2), 2, 1);
    expect(() => other.restore(stream.position())).toThrow(/token ids: these are not the rows the checkpoint was trained on \(fingerprint 7x2:\w{8}, the checkpoint's 7x2:\w{8}\)/);
    expect(() => stream.restore({ ...stream.position(), index: 8 })).toThrow('data position 8 is outside the 7 rows');
    expect(() => new BatchStream(data, 0, 1)).toThrow('the batch size must be a positive integer, got 0');
  });
});
