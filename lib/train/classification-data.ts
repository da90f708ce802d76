// Classification data: JSONL lines with labels, tokenized into padded rows.
//
// Sequence classification, one {"text", "label"} per line. The label is
//   an integer                 a class id (single-label)
//   a string                   a class name: id2label's, or the training file's names in sorted order
//   a number, num_labels 1     a regression target
//   a list of 0/1              multi-label targets, one per label
//   a list of class names      multi-label: the classes present
// Each text is tokenized as tokenizer(text) is (<bos> first, no <eos>, as
// run_glue does), cut to seqLen and right-padded with the pad id. The targets
// are kept per row: [rows] or [rows, num_labels] floats.
//
// Token classification, one line of either
//   {"tokens": [words], "labels": [one per word]}  each word tokenized on its own
//     (is_split_into_words: no space is added between words); the word's label
//     goes on its first sub-token and -100 on the rest, as run_ner's
//     align_labels_with_tokens does with word_ids (label_all_tokens false);
//   {"text": "...", "labels": [one per token]}   labels for the tokens of the
//     text as the tokenizer splits it (<bos> not counted: it gets -100).
// Labels are class ids or class names (as above), or -100 to skip a word.
// Every error names the file, the line and the field.

import fs from 'node:fs';
import type { ProblemType } from '../model/config.ts';
import { type Batch, DataError, Dataset, IGNORE_INDEX, makeBatch } from './data.ts';
import { Tensor } from '../tensor/tensor.ts';

/** What a classifier's labels are: the loss and the class names in id order. */
export interface LabelScheme {
  problemType: ProblemType;
  /** Class names by id (id2label's values in order); one entry for regression. */
  names: string[];
}

/** id2label and label2id as config.json writes them. */
export function labelMaps(scheme: LabelScheme): { id2label: Record<string, string>; label2id: Record<string, number> } {
  return {
    id2label: Object.fromEntries(scheme.names.map((name, id) => [String(id), name])),
    label2id: Object.fromEntries(scheme.names.map((name, id) => [name, id])),
  };
}

/** Transformers' default names for labels that have none. */
export const defaultLabelNames = (count: number): string[] => Array.from({ length: count }, (_, i) => `LABEL_${i}`);

/** What the tokenizer must do for classification data (HfTokenizer has it). */
export interface ClassificationTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
}

interface JsonLine {
  line: number;
  value: Record<string, unknown>;
}

function readJsonlObjects(file: string, example: string): JsonLine[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (error) {
    throw new DataError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const lines: JsonLine[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.trim() === '') return;
    const line = index + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new DataError(`${file}:${line}: not JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DataError(`${file}:${line}: expected an object ${example}, found ${JSON.stringify(value)}`);
    lines.push({ line, value: value as Record<string, unknown> });
  });
  if (lines.length === 0) throw new DataError(`${file}: no lines (the file is empty or has only blank lines)`);
  return lines;
}

function field(file: string, { line, value }: JsonLine, name: string): unknown {
  if (!(name in value)) throw new DataError(`${file}:${line}: no "${name}" field (the object has ${Object.keys(value).map((k) => JSON.stringify(k)).join(', ') || 'no fields'})`);
  return value[name];
}

function stringField(file: string, line: JsonLine, name: string): string {
  const v = field(file, line, name);
  if (typeof v !== 'string') throw new DataError(`${file}:${line.line}: "${name}" is ${JSON.stringify(v)}, expected a string`);
  return v;
}

const SEQ_EXAMPLE = '{"text": "...", "label": ...}';
const TOKEN_EXAMPLE = '{"tokens": [...], "labels": [...]} or {"text": "...", "labels": [...]}';

export interface SchemeHints {
  /** --num-labels, or the starting classifier's num_labels. */
  numLabels?: number;
  /** Class names by id (--id2label, or the starting classifier's config). */
  names?: string[];
}

/**
 * The label scheme of a sequence-classification training file: the problem
 * type from the labels' kind (all lines must agree), the class names from the
 * hints or the file (sorted).
 */
export function sequenceLabelScheme(file: string, hints: SchemeHints = {}): LabelScheme {
  const lines = readJsonlObjects(file, SEQ_EXAMPLE);
  const labels = lines.map((l) => ({ line: l.line, label: field(file, l, 'label') }));
  const kindOf = (label: unknown): string => {
    if (typeof label === 'string') return 'name';
    if (typeof label === 'number' && Number.isFinite(label)) return Number.isInteger(label) && hints.numLabels !== 1 ? 'id' : 'value';
    if (Array.isArray(label)) return label.every((x) => typeof x === 'string') ? 'names' : 'indicators';
    return 'invalid';
  };
  const first = labels[0];
  const kinds = new Set(labels.map(({ label }) => kindOf(label)));
  // whole and fractional numbers together are regression targets (3 and 2.5)
  const numbers = kinds.size === 2 && kinds.has('id') && kinds.has('value');
  const kind = numbers ? 'value' : kindOf(first.label);
  for (const { line, label } of labels) {
    const k = numbers && kindOf(label) === 'id' ? 'value' : kindOf(label);
    if (k === 'invalid') throw new DataError(`${file}:${line}: "label" is ${JSON.stringify(label)}; expected a class id, a class name, a number (regression) or a list (multi-label)`);
    if (k !== kind) throw new DataError(`${file}:${line}: "label" ${JSON.stringify(label)} is not the kind of label line ${first.line} has (${JSON.stringify(first.label)}); every line needs the same kind`);
  }
  const checkCount = (count: number, what: string) => {
    if (hints.numLabels !== undefined && hints.numLabels !== count) throw new DataError(`${file}: ${what} gives ${count} labels, but num_labels is ${hints.numLabels}`);
  };
  switch (kind) {
    case 'value':
      if (hints.numLabels !== undefined && hints.numLabels !== 1) {
        const bad = labels.find(({ label }) => !Number.isInteger(label))!;
        throw new DataError(`${file}:${bad.line}: "label" ${bad.label} is not a class id; a regression target needs num_labels 1, not ${hints.numLabels}`);
      }
      return { problemType: 'regression', names: hints.names ?? defaultLabelNames(1) };
    case 'id': {
      const max = Math.max(...labels.map(({ label }) => label as number));
      const count = hints.numLabels ?? hints.names?.length ?? max + 1;
      return { problemType: 'single_label_classification', names: hints.names ?? defaultLabelNames(count) };
    }
    case 'indicators': {
      const width = (first.label as unknown[]).length;
      checkCount(width, `line ${first.line}'s list`);
      return { problemType: 'multi_label_classification', names: hints.names ?? defaultLabelNames(width) };
    }
    default: {
      // class names: id2label's order, or the file's names sorted
      const names = hints.names ?? [...new Set(labels.flatMap(({ label }) => (Array.isArray(label) ? label : [label]) as string[]))].sort();
      checkCount(names.length, 'the file');
      return { problemType: kind === 'name' ? 'single_label_classification' : 'multi_label_classification', names };
    }
  }
}

/** Class ids of a token-classification training file's names (sorted), or the hinted count for ids. */
export function tokenLabelScheme(file: string, hints: SchemeHints = {}): LabelScheme {
  const lines = readJsonlObjects(file, TOKEN_EXAMPLE);
  const all = lines.flatMap((l) => {
    const labels = field(file, l, 'labels');
    if (!Array.isArray(labels)) throw new DataError(`${file}:${l.line}: "labels" is ${JSON.stringify(labels)}, expected a list`);
    return labels.map((label) => ({ line: l.line, label }));
  });
  const names = all.filter(({ label }) => typeof label === 'string').map(({ label }) => label as string);
  const ids = all.filter(({ label }) => typeof label === 'number' && label !== IGNORE_INDEX).map(({ label }) => label as number);
  const bad = all.find(({ label }) => typeof label !== 'string' && !(typeof label === 'number' && Number.isInteger(label)));
  if (bad !== undefined) throw new DataError(`${file}:${bad.line}: a label is ${JSON.stringify(bad.label)}; expected a class id, a class name or -100`);
  if (names.length > 0 && ids.length > 0) throw new DataError(`${file}: labels mix class names and class ids; use one kind`);
  let result: string[];
  if (hints.names !== undefined) result = hints.names;
  else if (names.length > 0) result = [...new Set(names)].sort();
  else result = defaultLabelNames(hints.numLabels ?? Math.max(0, ...ids) + 1);
  if (hints.numLabels !== undefined && hints.numLabels !== result.length) throw new DataError(`${file}: the labels name ${result.length} classes, but num_labels is ${hints.numLabels}`);
  return { problemType: 'single_label_classification', names: result };
}

export interface ClassificationDataOptions {
  seqLen: number;
  scheme: LabelScheme;
  vocabSize?: number;
}

/** A class name or id as an id of the scheme; errors name the place. */
function classId(label: unknown, scheme: LabelScheme, where: () => string, allowIgnore: boolean): number {
  if (typeof label === 'string') {
    const id = scheme.names.indexOf(label);
    if (id < 0) throw new DataError(`${where()}: class "${label}" is not one of the ${scheme.names.length} classes (${scheme.names.join(', ')})`);
    return id;
  }
  if (typeof label === 'number' && Number.isInteger(label)) {
    if (allowIgnore && label === IGNORE_INDEX) return label;
    if (label < 0 || label >= scheme.names.length) throw new DataError(`${where()}: class id ${label} is outside [0, ${scheme.names.length})`);
    return label;
  }
  throw new DataError(`${where()}: ${JSON.stringify(label)} is not a class id or class name`);
}

function checkIds(ids: number[], vocabSize: number | undefined, where: () => string): void {
  if (vocabSize === undefined) return;
  const outside = ids.find((id) => id < 0 || id >= vocabSize);
  if (outside !== undefined) throw new DataError(`${where()}: token id ${outside} is outside the model's vocabulary [0, ${vocabSize}) (the tokenizer does not fit the model?)`);
}

/** The pad id rows are filled with (checking the row length first). */
function padId(file: string, tokenizer: ClassificationTokenizer, seqLen: number): number {
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new DataError(`seqLen must be a positive integer, got ${seqLen}`);
  if (tokenizer.padTokenId === null) throw new DataError(`${file}: classification rows are padded, and the tokenizer has no pad token`);
  return tokenizer.padTokenId;
}

/** Rows of one text each, with a target per row: [rows] (one label) or [rows, num_labels] floats. */
export class SequenceClassificationDataset extends Dataset {
  readonly task = 'seq-cls';

  constructor(
    inputIds: Int32Array,
    attentionMask: Int32Array,
    seqLen: number,
    source: string,
    notes: string[],
    readonly scheme: LabelScheme,
    /** Class ids (single-label) or float targets, targetWidth per row. */
    readonly targets: Float32Array,
  ) {
    // no per-token labels: the loss reads the targets
    super(inputIds, new Int32Array(inputIds.length).fill(IGNORE_INDEX), attentionMask, seqLen, source, notes);
  }

  /** Targets per row: 1 for a class id or one regression value, num_labels for multi-label. */
  get targetWidth(): number {
    return this.scheme.problemType === 'multi_label_classification' ? this.scheme.names.length : 1;
  }

  override slice(begin: number, end: number, notes = this.notes): SequenceClassificationDataset {
    const T = this.seqLen;
    const w = this.targetWidth;
    return new SequenceClassificationDataset(
      this.inputIds.subarray(begin * T, end * T),
      this.attentionMask!.subarray(begin * T, end * T),
      T,
      this.source,
      notes,
      this.scheme,
      this.targets.subarray(begin * w, end * w),
    );
  }

  override fingerprint(): string {
    // the targets are part of what a resumed run must read again
    let h = 0x811c9dc5;
    const bytes = new Uint8Array(this.targets.buffer, this.targets.byteOffset, this.targets.byteLength);
    for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    return `${super.fingerprint()}+${h.toString(16).padStart(8, '0')}`;
  }
}

/** Rows of token ids with a class id (or -100) per token. */
export class TokenClassificationDataset extends Dataset {
  readonly task = 'token-cls';

  constructor(inputIds: Int32Array, labels: Int32Array, attentionMask: Int32Array, seqLen: number, source: string, notes: string[], readonly scheme: LabelScheme) {
    super(inputIds, labels, attentionMask, seqLen, source, notes);
  }

  override slice(begin: number, end: number, notes = this.notes): TokenClassificationDataset {
    const T = this.seqLen;
    return new TokenClassificationDataset(
      this.inputIds.subarray(begin * T, end * T),
      this.labels.subarray(begin * T, end * T),
      this.attentionMask!.subarray(begin * T, end * T),
      T,
      this.source,
      notes,
      this.scheme,
    );
  }
}

/** Rows padded to seqLen from per-row ids (and labels), cut where longer. */
function padRows(rows: { ids: number[]; labels?: number[] }[], seqLen: number, pad: number) {
  const inputIds = new Int32Array(rows.length * seqLen).fill(pad);
  const labels = new Int32Array(rows.length * seqLen).fill(IGNORE_INDEX);
  const mask = new Int32Array(rows.length * seqLen);
  let cut = 0;
  rows.forEach((row, r) => {
    if (row.ids.length > seqLen) cut++;
    const kept = Math.min(row.ids.length, seqLen);
    inputIds.set(row.ids.slice(0, kept), r * seqLen);
    if (row.labels !== undefined) labels.set(row.labels.slice(0, kept), r * seqLen);
    mask.fill(1, r * seqLen, r * seqLen + kept);
  });
  const notes = cut > 0 ? [`${cut} of ${rows.length} texts are longer than ${seqLen} tokens and were cut`] : [];
  return { inputIds, labels, mask, notes };
}

/** A {"text", "label"} JSONL file as padded rows with their targets. */
export function sequenceClassificationDataset(file: string, tokenizer: ClassificationTokenizer, options: ClassificationDataOptions): SequenceClassificationDataset {
  const { seqLen, scheme, vocabSize } = options;
  const pad = padId(file, tokenizer, seqLen);
  const lines = readJsonlObjects(file, SEQ_EXAMPLE);
  const width = scheme.problemType === 'multi_label_classification' ? scheme.names.length : 1;
  const targets = new Float32Array(lines.length * width);
  const rows = lines.map((l, r) => {
    const text = stringField(file, l, 'text');
    const label = field(file, l, 'label');
    const where = () => `${file}:${l.line}: "label"`;
    switch (scheme.problemType) {
      case 'regression':
        if (typeof label !== 'number' || !Number.isFinite(label)) throw new DataError(`${where()} is ${JSON.stringify(label)}, expected a number (regression)`);
        targets[r] = label;
        break;
      case 'single_label_classification':
        if (Array.isArray(label)) throw new DataError(`${where()} is a list, expected one class (the training data is single-label)`);
        targets[r] = classId(label, scheme, where, false);
        break;
      case 'multi_label_classification': {
        if (!Array.isArray(label)) throw new DataError(`${where()} is ${JSON.stringify(label)}, expected a list (the training data is multi-label)`);
        if (label.every((x) => typeof x === 'string')) {
          for (const name of label) targets[r * width + classId(name, scheme, where, false)] = 1;
        } else {
          if (label.length !== width) throw new DataError(`${where()} has ${label.length} entries, expected one 0/1 per label (${width})`);
          label.forEach((x, k) => {
            if (x !== 0 && x !== 1) throw new DataError(`${where()}[${k}] is ${JSON.stringify(x)}, expected 0 or 1`);
            targets[r * width + k] = x;
          });
        }
        break;
      }
    }
    const ids = tokenizer.encode(text);
    checkIds(ids, vocabSize, () => `${file}:${l.line}: "text"`);
    if (ids.length === 0) throw new DataError(`${file}:${l.line}: "text" has no tokens`);
    return { ids };
  });
  const { inputIds, mask, notes } = padRows(rows, seqLen, pad);
  return new SequenceClassificationDataset(inputIds, mask, seqLen, file, notes, scheme, targets);
}

/** A token-classification JSONL file ({"tokens", "labels"} or {"text", "labels"}) as padded rows. */
export function tokenClassificationDataset(file: string, tokenizer: ClassificationTokenizer, options: ClassificationDataOptions): TokenClassificationDataset {
  const { seqLen, scheme, vocabSize } = options;
  const pad = padId(file, tokenizer, seqLen);
  const rows = readJsonlObjects(file, TOKEN_EXAMPLE).map((l) => {
    const labels = field(file, l, 'labels');
    if (!Array.isArray(labels)) throw new DataError(`${file}:${l.line}: "labels" is ${JSON.stringify(labels)}, expected a list`);
    const labelId = (k: number) => classId(labels[k], scheme, () => `${file}:${l.line}: "labels"[${k}]`, true);
    const bos = tokenizer.bosTokenId !== null && tokenizer.encode('')[0] === tokenizer.bosTokenId ? [tokenizer.bosTokenId] : [];
    const ids: number[] = [...bos];
    const tokenLabels: number[] = bos.map(() => IGNORE_INDEX);
    if ('tokens' in l.value) {
      if ('text' in l.value) throw new DataError(`${file}:${l.line}: give "tokens" or "text", not both`);
      const words = l.value.tokens;
      if (!Array.isArray(words) || !words.every((w) => typeof w === 'string')) throw new DataError(`${file}:${l.line}: "tokens" must be a list of strings (words)`);
      if (words.length !== labels.length) throw new DataError(`${file}:${l.line}: ${words.length} "tokens" but ${labels.length} "labels"; each word needs one label`);
      words.forEach((word, k) => {
        const pieces = tokenizer.encode(word, { addSpecialTokens: false });
        if (pieces.length === 0) throw new DataError(`${file}:${l.line}: "tokens"[${k}] (${JSON.stringify(word)}) has no tokens`);
        const label = labelId(k);
        // the label on the word's first sub-token, -100 on the rest (run_ner, label_all_tokens false)
        ids.push(...pieces);
        tokenLabels.push(label, ...pieces.slice(1).map(() => IGNORE_INDEX));
      });
    } else {
      const text = stringField(file, l, 'text');
      const pieces = tokenizer.encode(text, { addSpecialTokens: false });
      if (pieces.length !== labels.length) throw new DataError(`${file}:${l.line}: "text" has ${pieces.length} tokens but there are ${labels.length} "labels"; give one per token (<bos> not counted)`);
      ids.push(...pieces);
      tokenLabels.push(...pieces.map((_, k) => labelId(k)));
    }
    checkIds(ids, vocabSize, () => `${file}:${l.line}`);
    return { ids, labels: tokenLabels };
  });
  const { inputIds, labels, mask, notes } = padRows(rows, seqLen, pad);
  return new TokenClassificationDataset(inputIds, labels, mask, seqLen, file, notes, scheme);
}

/** The rows of a sequence-classification dataset as a batch: labels are [B] class ids, [B] values or [B, num_labels] 0/1. */
export function sequenceClassificationBatch(data: SequenceClassificationDataset, rows: readonly number[]): Batch {
  const batch = makeBatch(data, rows);
  const w = data.targetWidth;
  const values = new Float32Array(rows.length * w);
  rows.forEach((row, b) => values.set(data.targets.subarray(row * w, (row + 1) * w), b * w));
  const problem = data.scheme.problemType;
  const labels =
    problem === 'single_label_classification'
      ? Tensor.fromData(Int32Array.from(values), [rows.length])
      : Tensor.fromData(values, problem === 'regression' ? [rows.length] : [rows.length, w]);
  // what the loss's mean divides by: rows (class ids, none ignored here) or every target entry (MSE, BCE)
  return { ...batch, labels, lossTokens: rows.length * w };
}

/** The rows of a token-classification dataset as a batch; the loss counts every position whose label is not -100 (no shift). */
export function tokenClassificationBatch(data: TokenClassificationDataset, rows: readonly number[]): Batch {
  const batch = makeBatch(data, rows);
  const labels = batch.labels.contiguousData();
  let counted = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== IGNORE_INDEX) counted++;
  return { ...batch, lossTokens: counted };
}
