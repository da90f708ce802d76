// Rows of seqLen tokens from tokenized examples, one of two ways:
//   pack: whole examples side by side in a row, placed best-fit-decreasing
//         (TRL's default packing_strategy "bfd": longest first, each into the
//         row it fills best); each example's position ids start again at 0,
//         which is how the model keeps examples from attending to each other
//         (masks.ts), and each example's first label is -100, so no example
//         is trained to predict the next one's first token
//         (Transformers' DataCollatorWithFlattening). The rest of a row is
//         padding: the pad id, attention mask 0, labels -100.
//   pad:  one example per row, right-padded the same way (TRL without packing).
// An example longer than seqLen is cut to its first seqLen tokens, as TRL
// truncates to max_length (truncation_mode "keep_start"); the cuts are
// counted in the notes, and so are examples left with no label to learn.

import { DataError, IGNORE_INDEX } from './data-error.ts';
import type { Example } from './jsonl-examples.ts';

export type RowLayout = 'pack' | 'pad';

export interface Rows {
  inputIds: Int32Array;
  labels: Int32Array;
  attentionMask: Int32Array;
  /** Per-example position ids when packed; null when padded (0..T-1). */
  positionIds: Int32Array | null;
  notes: string[];
}

/** The loss counts label t of a row only for t >= 1 (the first position predicts nothing). */
function countedLabels(labels: readonly number[]): number {
  let n = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) n++;
  return n;
}

/** The examples cut to seqLen, with notes on what the cut did. */
function truncate(examples: readonly Example[], seqLen: number): { kept: Example[]; notes: string[] } {
  let cut = 0;
  let empty = 0;
  const kept = examples.map((example) => {
    const fits = example.ids.length <= seqLen;
    if (!fits) cut++;
    const kept = fits ? example : { line: example.line, ids: example.ids.slice(0, seqLen), labels: example.labels.slice(0, seqLen) };
    if (countedLabels(kept.labels) === 0) empty++;
    return kept;
  });
  const notes: string[] = [];
  if (cut > 0) notes.push(`${cut} of ${examples.length} examples are longer than ${seqLen} tokens and were cut to their first ${seqLen} (as TRL truncates to max_length)`);
  if (empty > 0) notes.push(`${empty} of ${examples.length} examples have no label to learn${cut > 0 ? ' (after the cut)' : ''} and train nothing`);
  return { kept, notes };
}

function checkPad(padId: number | null, layout: RowLayout): number {
  if (padId === null) throw new DataError(`${layout === 'pad' ? 'padding' : 'packing'} needs a pad token (to fill the rows) and the tokenizer has none`);
  return padId;
}

/** One example per row, right-padded. */
export function padExamples(examples: readonly Example[], seqLen: number, padId: number | null): Rows {
  const pad = checkPad(padId, 'pad');
  const { kept, notes } = truncate(examples, seqLen);
  const rows = kept.length;
  const inputIds = new Int32Array(rows * seqLen).fill(pad);
  const labels = new Int32Array(rows * seqLen).fill(IGNORE_INDEX);
  const attentionMask = new Int32Array(rows * seqLen);
  kept.forEach((example, r) => {
    inputIds.set(example.ids, r * seqLen);
    labels.set(example.labels, r * seqLen);
    attentionMask.fill(1, r * seqLen, r * seqLen + example.ids.length);
  });
  return { inputIds, labels, attentionMask, positionIds: null, notes };
}

/**
 * Best-fit decreasing: the examples' indices grouped into rows of at most
 * seqLen tokens. Longest first (ties in file order); each goes into the open
 * row with the least room that still fits it, or opens a new row.
 */
export function bestFitDecreasing(lengths: readonly number[], seqLen: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const rows: number[][] = [];
  // byRoom[r]: the rows with exactly r tokens of room left, oldest first
  const byRoom: number[][] = Array.from({ length: seqLen + 1 }, () => []);
  for (const i of order) {
    const length = lengths[i];
    if (length > seqLen) throw new Error(`bestFitDecreasing: an example of ${length} tokens does not fit a row of ${seqLen}`);
    let room = length;
    while (room <= seqLen && byRoom[room].length === 0) room++;
    const row = room <= seqLen ? byRoom[room].shift()! : rows.push([]) - 1;
    rows[row].push(i);
    byRoom[(room <= seqLen ? room : seqLen) - length].push(row);
  }
  return rows;
}

/** Whole examples packed into rows with per-example position ids. */
export function packExamples(examples: readonly Example[], seqLen: number, padId: number | null): Rows {
  const pad = checkPad(padId, 'pack');
  const { kept, notes } = truncate(examples, seqLen);
  const rows = bestFitDecreasing(
    kept.map((e) => e.ids.length),
    seqLen,
  );
  const size = rows.length * seqLen;
  const inputIds = new Int32Array(size).fill(pad);
  const labels = new Int32Array(size).fill(IGNORE_INDEX);
  const attentionMask = new Int32Array(size);
  const positionIds = new Int32Array(size);
  rows.forEach((members, r) => {
    let at = r * seqLen;
    for (const i of members) {
      const { ids, labels: exampleLabels } = kept[i];
      inputIds.set(ids, at);
      labels.set(exampleLabels, at);
      labels[at] = IGNORE_INDEX; // no example predicts the next one's first token
      attentionMask.fill(1, at, at + ids.length);
      for (let t = 0; t < ids.length; t++) positionIds[at + t] = t;
      at += ids.length;
    }
    // the padding after the last example: a run of its own (position ids from 0), masked out
    for (let t = 0; at + t < (r + 1) * seqLen; t++) positionIds[at + t] = t;
  });
  notes.push(`${kept.length} examples packed into ${rows.length} rows (${((100 * attentionMask.reduce((n, m) => n + m, 0)) / size).toFixed(1)}% of the tokens are not padding)`);
  return { inputIds, labels, attentionMask, positionIds, notes };
}
