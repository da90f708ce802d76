// Training data: rows of seqLen token ids with their labels, and the order
// the rows are read in.
//
// Sources:
//   - a token stream (ids, or a file of ids separated by whitespace or commas)
//     cut into blocks of seqLen, labels = inputs (the loss shifts them by one
//     itself, as Transformers' causal-LM loss does); the tail shorter than a
//     block is dropped, as run_clm's group_texts drops it;
//   - a JSONL file of examples in one of TRL's formats ({"text"},
//     {"prompt", "completion"}, {"messages"}), tokenized with the model
//     folder's tokenizer and labelled (jsonl-examples.ts), then laid out in rows
//     (packing.ts): packed, with per-example position ids so that no example
//     attends to another, or one per row right-padded (labels -100 and
//     attention mask 0 on the padding). Texts may also be concatenated and cut
//     into blocks like a token stream (the default for {"text"}, as run_clm).
//
// The reading order is an endless stream of epochs, each a permutation of
// the rows drawn from a seeded Generator. A micro-batch takes the next B rows
// of that stream, across epoch boundaries, so every batch has the same shape
// (one set of compiled kernels), no row is ever dropped whatever B is, and
// the rows a step sees do not depend on how it is split into micro-batches.
// The position in the stream (epoch, index, and the generator's state at the
// start of the epoch, from which the epoch's permutation is redrawn) is all a
// resumed run needs.

import fs from 'node:fs';
import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { DataError, IGNORE_INDEX } from './data-error.ts';
import { type ExampleFormat, type Examples, type TextTokenizer, type ChatTokenizer, tokenizeJsonl } from './jsonl-examples.ts';
import { type RowLayout, packExamples, padExamples } from './packing.ts';

export { DataError, IGNORE_INDEX, type TextTokenizer, type ChatTokenizer, type ExampleFormat };

export type GeneratorState = ReturnType<Generator['getState']>;

/** Rows of token ids, labels, (when padded) an attention mask and (when packed) position ids, each [rows, seqLen] row-major. */
export class Dataset {
  constructor(
    readonly inputIds: Int32Array,
    readonly labels: Int32Array,
    /** 1 for tokens, 0 for padding; null when no row is padded. */
    readonly attentionMask: Int32Array | null,
    readonly seqLen: number,
    /** What the rows were made from, for messages: a file name or "token ids". */
    readonly source: string,
    /** Facts worth telling the user (a dropped tail, texts cut to seqLen). */
    readonly notes: string[] = [],
    /**
     * Packed rows: each example's position ids, from 0 (the model keeps
     * examples from attending to each other where they restart; masks.ts).
     * null: every row is one sequence (positions 0..seqLen-1).
     */
    readonly positionIds: Int32Array | null = null,
  ) {
    const fits = (values: Int32Array | null) => values === null || values.length === inputIds.length;
    if (inputIds.length !== labels.length || inputIds.length % seqLen !== 0 || !fits(attentionMask) || !fits(positionIds)) {
      throw new DataError(
        `Dataset: ${inputIds.length} ids, ${labels.length} labels, ${attentionMask?.length ?? 'no'} mask values and ${positionIds?.length ?? 'no'} position ids do not make rows of ${seqLen}`,
      );
    }
  }

  get rows(): number {
    return this.inputIds.length / this.seqLen;
  }

  /** Rows [begin, end) as a dataset of their own (sharing storage). */
  slice(begin: number, end: number, notes = this.notes): Dataset {
    const T = this.seqLen;
    return new Dataset(
      this.inputIds.subarray(begin * T, end * T),
      this.labels.subarray(begin * T, end * T),
      this.attentionMask?.subarray(begin * T, end * T) ?? null,
      T,
      this.source,
      notes,
      this.positionIds?.subarray(begin * T, end * T) ?? null,
    );
  }

  /**
   * FNV-1a over the ids, labels, mask and position ids: a resumed run checks that it reads
   * the same rows as the run that saved the checkpoint.
   */
  fingerprint(): string {
    let h = 0x811c9dc5;
    const mix = (values: Int32Array): void => {
      for (let i = 0; i < values.length; i++) {
        let v = values[i];
        for (let k = 0; k < 4; k++) {
          h = Math.imul(h ^ (v & 0xff), 0x01000193) >>> 0;
          v >>>= 8;
        }
      }
    };
    mix(this.inputIds);
    mix(this.labels);
    if (this.attentionMask !== null) mix(this.attentionMask);
    if (this.positionIds !== null) mix(this.positionIds);
    return `${this.rows}x${this.seqLen}:${h.toString(16).padStart(8, '0')}`;
  }

  /** One line for the user: rows, length, source and notes. */
  describe(): string {
    const notes = this.notes.length > 0 ? ` (${this.notes.join('; ')})` : '';
    return `${this.rows} rows of ${this.seqLen} tokens from ${this.source}${notes}`;
  }
}

function checkSeqLen(seqLen: number): void {
  if (!Number.isInteger(seqLen) || seqLen < 2) {
    throw new DataError(`seqLen must be an integer >= 2 (a row needs a token to predict from and one to predict), got ${seqLen}`);
  }
}

function checkVocabulary(id: number, vocabSize: number | undefined, where: () => string): void {
  if (vocabSize !== undefined && (id < 0 || id >= vocabSize)) {
    throw new DataError(`${where()}: token id ${id} is outside the model's vocabulary [0, ${vocabSize})`);
  }
}

export interface TokenOptions {
  /** Ids must lie in [0, vocabSize). */
  vocabSize?: number;
  /** How messages name the data (default "token ids"). */
  source?: string;
}

/** Cuts a token stream into rows of seqLen; labels = inputs; the tail shorter than a row is dropped. */
export function tokenBlocks(ids: ArrayLike<number>, seqLen: number, options: TokenOptions = {}): Dataset {
  checkSeqLen(seqLen);
  const source = options.source ?? 'token ids';
  if (ids.length === 0) throw new DataError(`${source}: no tokens`);
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isInteger(ids[i])) throw new DataError(`${source}: token ${i} is ${ids[i]}, not an integer id`);
    checkVocabulary(ids[i], options.vocabSize, () => `${source}: token ${i}`);
  }
  return cutIntoBlocks(Int32Array.from(ids), seqLen, source);
}

function cutIntoBlocks(stream: Int32Array, seqLen: number, source: string): Dataset {
  const rows = Math.floor(stream.length / seqLen);
  if (rows === 0) {
    throw new DataError(`${source}: ${stream.length} tokens, fewer than one row of ${seqLen} (lower the sequence length or add data)`);
  }
  const used = rows * seqLen;
  const notes = used < stream.length ? [`the last ${stream.length - used} of ${stream.length} tokens do not fill a row and are left out`] : [];
  const ids = stream.slice(0, used);
  return new Dataset(ids, ids.slice(), null, seqLen, source, notes);
}

function readText(file: string): string {
  try {
    // A byte-order mark (some editors write one) is not part of the first line.
    return fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (error) {
    throw new DataError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Token ids from a file of integers separated by whitespace or commas; errors name the line and the token's place in it. */
export function readTokenFile(file: string, vocabSize?: number): number[] {
  const ids: number[] = [];
  readText(file)
    .split('\n')
    .forEach((line, lineIndex) => {
      const pieces = line.split(/[\s,]+/).filter((piece) => piece !== '');
      pieces.forEach((piece, k) => {
        const where = () => `${file}:${lineIndex + 1}, token ${k + 1} of the line`;
        if (!/^[+-]?\d+$/.test(piece)) throw new DataError(`${where()}: "${piece}" is not an integer token id`);
        const id = Number(piece);
        checkVocabulary(id, vocabSize, where);
        ids.push(id);
      });
    });
  if (ids.length === 0) throw new DataError(`${file}: no token ids (the file is empty)`);
  return ids;
}

/** A token file cut into rows of seqLen. */
export function tokenFileDataset(file: string, seqLen: number, vocabSize?: number): Dataset {
  checkSeqLen(seqLen);
  return cutIntoBlocks(Int32Array.from(readTokenFile(file, vocabSize)), seqLen, file);
}

/** How a JSONL file's examples become rows: concatenated and cut into blocks ({"text"} only), packed, or one per row padded. */
export type JsonlLayout = 'concatenate' | RowLayout;

export interface JsonlOptions {
  seqLen: number;
  vocabSize?: number;
  /** Default: 'concatenate' for {"text"} examples (as run_clm), 'pack' for the others. */
  layout?: JsonlLayout;
  /** Loss on the completions and assistant turns only (default true; TRL's completion_only_loss); false: on every token. */
  completionOnlyLoss?: boolean;
}

/** A JSONL file of examples in one of TRL's formats, tokenized, labelled and laid out in rows of seqLen. */
export function jsonlDataset(file: string, tokenizer: TextTokenizer | ChatTokenizer, options: JsonlOptions): Dataset {
  checkSeqLen(options.seqLen);
  const tokenized = tokenizeJsonl(file, readText(file), tokenizer, { vocabSize: options.vocabSize, completionOnlyLoss: options.completionOnlyLoss });
  return examplesDataset(file, tokenized, tokenizer.padTokenId, options);
}

/** Examples already tokenized from `file` (tokenizeJsonl), laid out in rows of seqLen as jsonlDataset lays them out. */
export function examplesDataset(file: string, { format, examples, notes }: Examples, padTokenId: number | null, options: Pick<JsonlOptions, 'seqLen' | 'layout'>): Dataset {
  const { seqLen } = options;
  checkSeqLen(seqLen);
  const layout = options.layout ?? (format === 'text' ? 'concatenate' : 'pack');
  if (layout === 'concatenate') {
    if (format !== 'text') throw new DataError(`${file}: ${format} examples are packed or padded, not concatenated (that would let an example attend to the one before it)`);
    const blocks = cutIntoBlocks(Int32Array.from(examples.flatMap((e) => e.ids)), seqLen, file);
    return blocks.slice(0, blocks.rows, [...notes, ...blocks.notes]);
  }
  const rows = (layout === 'pack' ? packExamples : padExamples)(examples, seqLen, padTokenId);
  return new Dataset(rows.inputIds, rows.labels, rows.attentionMask, seqLen, file, [...notes, ...rows.notes], rows.positionIds);
}

/** The last `fraction` of the rows (at least one) held out for evaluation. */
export function splitDataset(data: Dataset, fraction: number): { train: Dataset; eval: Dataset } {
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`the eval fraction must be in (0, 1), got ${fraction}`);
  const evalRows = Math.max(1, Math.round(fraction * data.rows));
  if (evalRows >= data.rows) {
    throw new DataError(`${data.source}: ${data.rows} rows cannot be split with an eval fraction of ${fraction}: nothing would be left to train on`);
  }
  const cut = data.rows - evalRows;
  return {
    train: data.slice(0, cut, [...data.notes, `the last ${evalRows} rows are held out for eval`]),
    eval: data.slice(cut, data.rows, [`the last ${evalRows} of ${data.rows} rows`]),
  };
}

export interface Batch {
  /** int32 [B, T] */
  inputIds: Tensor;
  /** int32 [B, T], -100 where no loss is wanted. */
  labels: Tensor;
  /** int32 [B, T], or null when nothing is padded. */
  attentionMask: Tensor | null;
  /** int32 [B, T] per-example position ids of packed rows (for the model), or null. */
  positionIds: Tensor | null;
  /** Labels the loss counts: labels[:, 1:] other than -100 (the first position predicts nothing). */
  lossTokens: number;
  /** Input tokens that are not padding. */
  inputTokens: number;
}

/** The given rows as one batch. */
export function makeBatch(data: Dataset, rows: readonly number[]): Batch {
  const T = data.seqLen;
  const B = rows.length;
  const ids = new Int32Array(B * T);
  const labels = new Int32Array(B * T);
  const mask = data.attentionMask === null ? null : new Int32Array(B * T);
  const positions = data.positionIds === null ? null : new Int32Array(B * T);
  rows.forEach((row, b) => {
    ids.set(data.inputIds.subarray(row * T, (row + 1) * T), b * T);
    labels.set(data.labels.subarray(row * T, (row + 1) * T), b * T);
    mask?.set(data.attentionMask!.subarray(row * T, (row + 1) * T), b * T);
    positions?.set(data.positionIds!.subarray(row * T, (row + 1) * T), b * T);
  });
  let lossTokens = 0;
  for (let b = 0; b < B; b++) for (let t = 1; t < T; t++) if (labels[b * T + t] !== IGNORE_INDEX) lossTokens++;
  const inputTokens = mask === null ? B * T : mask.reduce((n, m) => n + m, 0);
  return {
    inputIds: Tensor.fromData(ids, [B, T]),
    labels: Tensor.fromData(labels, [B, T]),
    attentionMask: mask === null ? null : Tensor.fromData(mask, [B, T]),
    positionIds: positions === null ? null : Tensor.fromData(positions, [B, T]),
    lossTokens,
    inputTokens,
  };
}

/** Every row once, in order, in batches of at most batchSize (the last may be smaller): for evaluation. */
export function* sequentialBatches(data: Dataset, batchSize: number): IterableIterator<Batch> {
  for (let first = 0; first < data.rows; first += batchSize) {
    yield makeBatch(data, Array.from({ length: Math.min(batchSize, data.rows - first) }, (_, i) => first + i));
  }
}

/** Where a BatchStream is; JSON-safe, for trainer_state.json. */
export interface DataPosition {
  /** Epochs begun before the current one. */
  epoch: number;
  /** Rows of the current epoch already read. */
  index: number;
  /** The shuffling generator's state at the start of the current epoch. */
  generator: GeneratorState;
  /** Dataset.fingerprint() of the rows read: a resumed run must read the same. */
  fingerprint: string;
}

/** The endless, seeded, epoch-by-epoch shuffled stream of rows, read in batches. */
export class BatchStream {
  private readonly generator: Generator;
  private epochStart: GeneratorState;
  private order: number[] = [];
  private epochIndex = 0;
  private index = 0;

  constructor(
    readonly data: Dataset,
    readonly batchSize: number,
    seed: number,
    readonly shuffle = true,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new DataError(`the batch size must be a positive integer, got ${batchSize}`);
    if (data.rows === 0) throw new DataError(`${data.source}: no rows to train on`);
    this.generator = new Generator(seed);
    this.epochStart = this.generator.getState();
    this.drawOrder();
  }

  /** The current epoch's permutation, from the generator (which it advances). */
  private drawOrder(): void {
    const order = Array.from({ length: this.data.rows }, (_, i) => i);
    if (this.shuffle) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = this.generator.nextInt(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    this.order = order;
  }

  /** The next `count` row indices, starting a new epoch (a new permutation) when one runs out. */
  nextRows(count: number): number[] {
    const rows: number[] = [];
    while (rows.length < count) {
      if (this.index === this.order.length) {
        this.epochIndex++;
        this.index = 0;
        this.epochStart = this.generator.getState();
        this.drawOrder();
      }
      rows.push(this.order[this.index++]);
    }
    return rows;
  }

  next(): Batch {
    return makeBatch(this.data, this.nextRows(this.batchSize));
  }

  /** Epochs read so far, fractional (2.5 = two whole epochs and half of the third). */
  get epoch(): number {
    return this.epochIndex + this.index / this.data.rows;
  }

  position(): DataPosition {
    return { epoch: this.epochIndex, index: this.index, generator: this.epochStart, fingerprint: this.data.fingerprint() };
  }

  /** Continues exactly where position() was taken (on the same rows). */
  restore(position: DataPosition): void {
    const fingerprint = this.data.fingerprint();
    if (position.fingerprint !== fingerprint) {
      throw new DataError(`${this.data.source}: these are not the rows the checkpoint was trained on (fingerprint ${fingerprint}, the checkpoint's ${position.fingerprint})`);
    }
    if (!Number.isInteger(position.index) || position.index < 0 || position.index > this.data.rows) {
      throw new DataError(`data position ${position.index} is outside the ${this.data.rows} rows`);
    }
    this.generator.setState(position.generator);
    this.epochStart = this.generator.getState();
    this.drawOrder();
    this.epochIndex = position.epoch;
    this.index = position.index;
  }
}
