// The prompt box's input: text through the tokenizer, or token ids typed as
// numbers ("2 17 40"), checked against the vocabulary with an error naming the
// bad id. Also how a token is labelled in every view.

import type { HfTokenizer } from '../../tokenizer/tokenizer.ts';

/** Ids from "2, 17 40": whole numbers in [0, vocabSize), separated by spaces or commas. */
export function parseIds(text: string, vocabSize: number): number[] {
  const parts = text.split(/[\s,]+/).filter((part) => part !== '');
  if (parts.length === 0) throw new Error('prompt: no token ids given (type ids separated by spaces, e.g. "2 17 40")');
  return parts.map((part, i) => {
    const id = Number(part);
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`prompt: id ${i + 1} ("${part}") is not a token id: ids are whole numbers from 0 to ${vocabSize - 1} (vocab_size ${vocabSize})`);
    }
    return id;
  });
}

/** The ids of the prompt: encoded text with a tokenizer, else ids typed as numbers. */
export function promptIds(text: string, tokenizer: HfTokenizer | null, vocabSize: number, asIds: boolean): number[] {
  if (asIds || tokenizer === null) return parseIds(text, vocabSize);
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new Error('prompt: the text encodes to no tokens; type some text');
  return ids;
}

/** A token's label: its vocabulary string (spaces shown as "▁", as SentencePiece stores them), or "#id" without a tokenizer. */
export function tokenLabel(id: number, tokenizer: HfTokenizer | null): string {
  return tokenizer?.idToToken(id) ?? `#${id}`;
}
