// Classification data: every label kind of {"text", "label"} lines, the
// word-by-word labels of {"tokens", "labels"} (first sub-token labelled, the
// rest -100) and per-token {"text", "labels"}, and the errors that name the
// file, the line and the field. The tokenizer is the tiny test one (one
// token per character, <bos> first, <pad> 0).

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { IGNORE_INDEX } from '../../lib/train/data.ts';
import {
  sequenceClassificationBatch,
  sequenceClassificationDataset,
  sequenceLabelScheme,
  tokenClassificationBatch,
  tokenClassificationDataset,
  tokenLabelScheme,
} from '../../lib/train/classification-data.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('cls-data');
let fileCount = 0;
/** A JSONL file of these lines (objects are stringified; strings are written as they are). */
function jsonl(...lines: unknown[]): string {
  const file = path.join(dir, `data-${fileCount++}.jsonl`);
  fs.writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}
const tokenizer = HfTokenizer.fromPretrained(FIXTURE_DIR);
const PAD = tokenizer.padTokenId!;
const BOS = tokenizer.bosTokenId!;

describe('sequence classification labels', () => {
  test('class names: sorted from the training file, or id2label order; rows padded with their targets', () => {
    const file = jsonl({ text: 'ab', label: 'pos' }, '', { text: 'abc?', label: 'neg' }, { text: 'a', label: 'pos' });
    const scheme = sequenceLabelScheme(file);
    expect(scheme).toEqual({ problemType: 'single_label_classification', names: ['neg', 'pos'] });
    expect(sequenceLabelScheme(file, { names: ['pos', 'neg'] }).names).toEqual(['pos', 'neg']);
    const data = sequenceClassificationDataset(file, tokenizer, { seqLen: 4, scheme });
    expect(data.rows).toBe(3);
    expect(Array.from(data.targets)).toEqual([1, 0, 1]);
    expect(Array.from(data.inputIds.subarray(0, 4))).toEqual([...tokenizer.encode('ab'), PAD]);
    expect(Array.from(data.attentionMask!.subarray(0, 4))).toEqual([1, 1, 1, 0]);
    expect(data.notes).toEqual(['1 of 3 texts are longer than 4 tokens and were cut']); // <bos> a b c ? is 5
    const batch = sequenceClassificationBatch(data, [2, 0]);
    expect(batch.labels.dtype).toBe('int32');
    expect(Array.from(batch.labels.contiguousData())).toEqual([1, 1]);
    expect(batch.lossTokens).toBe(2);
  });

  test('integer class ids, regression numbers and multi-label lists', () => {
    const ids = jsonl({ text: 'a', label: 2 }, { text: 'b', label: 0 });
    expect(sequenceLabelScheme(ids)).toEqual({ problemType: 'single_label_classification', names: ['LABEL_0', 'LABEL_1', 'LABEL_2'] });
    expect(sequenceLabelScheme(ids, { numLabels: 5 }).names).toHaveLength(5);

    const values = jsonl({ text: 'a', label: 2 }, { text: 'b', label: 0.5 });
    const regression = sequenceLabelScheme(values);
    expect(regression).toEqual({ problemType: 'regression', names: ['LABEL_0'] });
    expect(sequenceLabelScheme(ids, { numLabels: 1 }).problemType).toBe('regression'); // whole numbers with one label
    const data = sequenceClassificationDataset(values, tokenizer, { seqLen: 3, scheme: regression });
    const batch = sequenceClassificationBatch(data, [0, 1]);
    expect(batch.labels.dtype).toBe('float32');
    expect(batch.labels.shape).toEqual([2]);
    expect(Array.from(batch.labels.contiguousData())).toEqual([2, 0.5]);

    const indicators = jsonl({ text: 'a', label: [1, 0, 1] }, { text: 'b', label: [0, 0, 0] });
    const multi = sequenceLabelScheme(indicators);
    expect(multi).toEqual({ problemType: 'multi_label_classification', names: ['LABEL_0', 'LABEL_1', 'LABEL_2'] });
    const multiBatch = sequenceClassificationBatch(sequenceClassificationDataset(indicators, tokenizer, { seqLen: 3, scheme: multi }), [0, 1]);
    expect(multiBatch.labels.shape).toEqual([2, 3]);
    expect(Array.from(multiBatch.labels.contiguousData())).toEqual([1, 0, 1, 0, 0, 0]);
    expect(multiBatch.lossTokens).toBe(6); // BCE's mean runs over every entry

    const named = jsonl({ text: 'a', label: ['sport', 'news'] }, { text: 'b', label: [] }, { text: 'c', label: ['art'] });
    const namedScheme = sequenceLabelScheme(named);
    expect(namedScheme).toEqual({ problemType: 'multi_label_classification', names: ['art', 'news', 'sport'] });
    expect(Array.from(sequenceClassificationDataset(named, tokenizer, { seqLen: 3, scheme: namedScheme }).targets)).toEqual([0, 1, 1, 0, 0, 0, 1, 0, 0]);
  });

  test('errors name the file, the line and the field', () => {
    const mixed = jsonl({ text: 'a', label: 'x' }, { text: 'b', label: 3 });
    expect(() => sequenceLabelScheme(mixed)).toThrow(`${mixed}:2: "label" 3 is not the kind of label line 1 has ("x")`);
    const noLabel = jsonl({ text: 'a', label: 1 }, { text: 'b', labl: 1 });
    expect(() => sequenceLabelScheme(noLabel)).toThrow(`${noLabel}:2: no "label" field (the object has "text", "labl")`);
    const notJson = jsonl({ text: 'a', label: 1 }, '{"text": "b",');
    expect(() => sequenceLabelScheme(notJson)).toThrow(`${notJson}:2: not JSON`);
    const badText = jsonl({ text: 7, label: 0 });
    expect(() => sequenceClassificationDataset(badText, tokenizer, { seqLen: 4, scheme: sequenceLabelScheme(badText) })).toThrow(`${badText}:1: "text" is 7, expected a string`);
    const unknownClass = jsonl({ text: 'a', label: 'maybe' });
    expect(() => sequenceClassificationDataset(unknownClass, tokenizer, { seqLen: 4, scheme: { problemType: 'single_label_classification', names: ['no', 'yes'] } })).toThrow(
      `${unknownClass}:1: "label": class "maybe" is not one of the 2 classes (no, yes)`,
    );
    const outside = jsonl({ text: 'a', label: 2 });
    expect(() => sequenceClassificationDataset(outside, tokenizer, { seqLen: 4, scheme: { problemType: 'single_label_classification', names: ['no', 'yes'] } })).toThrow(
      `${outside}:1: "label": class id 2 is outside [0, 2)`,
    );
    const wrongWidth = jsonl({ text: 'a', label: [1, 0, 1] }, { text: 'b', label: [1, 0] });
    expect(() => sequenceClassificationDataset(wrongWidth, tokenizer, { seqLen: 4, scheme: sequenceLabelScheme(wrongWidth) })).toThrow(
      `${wrongWidth}:2: "label" has 2 entries, expected one 0/1 per label (3)`,
    );
    expect(() => sequenceLabelScheme(wrongWidth, { numLabels: 2 })).toThrow('gives 3 labels, but num_labels is 2');
    const notZeroOne = jsonl({ text: 'a', label: [1, 2] });
    expect(() => sequenceClassificationDataset(notZeroOne, tokenizer, { seqLen: 4, scheme: sequenceLabelScheme(notZeroOne) })).toThrow(`${notZeroOne}:1: "label"[1] is 2, expected 0 or 1`);
    expect(() => sequenceClassificationDataset(mixed, { ...tokenizer, encode: tokenizer.encode.bind(tokenizer), bosTokenId: BOS, padTokenId: null }, { seqLen: 4, scheme: { problemType: 'single_label_classification', names: ['x'] } })).toThrow(
      'the tokenizer has no pad token',
    );
  });
});

describe('token classification labels', () => {
  test('words: the label on the first sub-token, -100 on the rest and on <bos> and padding', () => {
    // the tiny tokenizer has one token per character (and a merge for "Hello")
    const file = jsonl({ tokens: ['Hi', 'you', '42'], labels: ['CAP', 'LOW', 'NUM'] }, { tokens: ['ok'], labels: [-100] });
    const scheme = tokenLabelScheme(file);
    expect(scheme.names).toEqual(['CAP', 'LOW', 'NUM']);
    const data = tokenClassificationDataset(file, tokenizer, { seqLen: 10, scheme });
    const words = ['Hi', 'you', '42'].map((w) => tokenizer.encode(w, { addSpecialTokens: false }));
    expect(Array.from(data.inputIds.subarray(0, 10))).toEqual([BOS, ...words.flat(), ...new Array(10 - 1 - words.flat().length).fill(PAD)]);
    const expectedLabels = [IGNORE_INDEX, ...words.flatMap((pieces, k) => [k, ...pieces.slice(1).map(() => IGNORE_INDEX)])];
    expect(Array.from(data.labels.subarray(0, 10))).toEqual([...expectedLabels, ...new Array(10 - expectedLabels.length).fill(IGNORE_INDEX)]);
    expect(tokenClassificationBatch(data, [0, 1]).lossTokens).toBe(3); // one per labelled word; the -100 word is skipped
  });

  test('text with one label per token (<bos> not counted)', () => {
    const file = jsonl({ text: 'ab', labels: [1, 0] });
    const data = tokenClassificationDataset(file, tokenizer, { seqLen: 4, scheme: tokenLabelScheme(file) });
    expect(Array.from(data.labels)).toEqual([IGNORE_INDEX, 1, 0, IGNORE_INDEX]);
    const short = jsonl({ text: 'abc', labels: [1, 0] });
    expect(() => tokenClassificationDataset(short, tokenizer, { seqLen: 4, scheme: tokenLabelScheme(short) })).toThrow(
      `${short}:1: "text" has 3 tokens but there are 2 "labels"; give one per token (<bos> not counted)`,
    );
  });

  test('errors name the line and the field', () => {
    const counts = jsonl({ tokens: ['a', 'b'], labels: ['X'] });
    expect(() => tokenClassificationDataset(counts, tokenizer, { seqLen: 4, scheme: tokenLabelScheme(counts) })).toThrow(`${counts}:1: 2 "tokens" but 1 "labels"; each word needs one label`);
    const both = jsonl({ tokens: ['a'], text: 'a', labels: ['X'] });
    expect(() => tokenClassificationDataset(both, tokenizer, { seqLen: 4, scheme: tokenLabelScheme(both) })).toThrow(`${both}:1: give "tokens" or "text", not both`);
    const mixed = jsonl({ tokens: ['a', 'b'], labels: ['X', 1] });
    expect(() => tokenLabelScheme(mixed)).toThrow('labels mix class names and class ids');
    const badLabel = jsonl({ tokens: ['a'], labels: [0.5] });
    expect(() => tokenLabelScheme(badLabel)).toThrow(`${badLabel}:1: a label is 0.5; expected a class id, a class name or -100`);
    const unknown = jsonl({ tokens: ['a', 'b'], labels: ['X', 'Y'] });
    expect(() => tokenClassificationDataset(unknown, tokenizer, { seqLen: 4, scheme: { problemType: 'single_label_classification', names: ['X'] } })).toThrow(
      `${unknown}:1: "labels"[1]: class "Y" is not one of the 1 classes (X)`,
    );
    const notList = jsonl({ tokens: ['a'], labels: 'X' });
    expect(() => tokenLabelScheme(notList)).toThrow(`${notList}:1: "labels" is "X", expected a list`);
  });
});
