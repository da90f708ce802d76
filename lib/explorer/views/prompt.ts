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

/**
 * The prompt the page starts with: a sentence for a language model, a sum for
 * the addition model (`npm start` trains it on "47+85=" and the reversed sum),
 * whichever the tokenizer can encode; without one (or when it encodes
 * neither), a few ids below the vocabulary size.
 */
export function defaultPrompt(tokenizer: HfTokenizer | null, vocabSize: number): { text: string; asIds: boolean } {
  for (const text of ['The capital of France is', '47+85=']) {
    try {
      if (tokenizer !== null && tokenizer.encode(text).length > 0) return { text, asIds: false };
    } catch {
      // this vocabulary cannot spell it: try the next
    }
  }
  return { text: [2, 17, 40, 5, 99, 3, 201, 64, 12, 7].map((id) => id % vocabSize).join(' '), asIds: true };
}

/** A token's label: its vocabulary string (spaces shown as "▁", as SentencePiece stores them), or "#id" without a tokenizer. */
export function tokenLabel(id: number, tokenizer: HfTokenizer | null): string {
  return tokenizer?.idToToken(id) ?? `#${id}`;
}
