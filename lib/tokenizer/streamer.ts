// Incremental decoding for streaming generation, after Transformers'
// TextStreamer: push one generated id at a time and get back only the text it
// adds. Like TextStreamer it decodes the ids of the current line again on
// every push (a token's text can depend on its neighbours) and forgets them
// after a newline, so each push costs one line's decode, not the whole
// output's. Unlike TextStreamer it does not wait for a space before printing
// a word: for Gemma's decoder (Replace, ByteFallback, Fuse) the text of a
// prefix of the ids never changes once later ids arrive, except in two places,
// and those are held back:
//
//  - a run of byte-fallback tokens ("<0xF0>", "<0x9F>", ...) that has not
//    ended: the character may be incomplete, and Rust's decoder (byte-
//    fallback.ts) turns the whole run into U+FFFDs if a later byte makes it
//    invalid, so a run is emitted with the first non-byte token after it (or
//    at end());
//  - trailing U+FFFDs, which other decoders (byte-level BPE) produce for a
//    character cut in two.
//
// So the pieces push and end return add up to exactly decode(all ids).

import type { HfTokenizer } from './tokenizer.ts';
import { TokenizerError } from './errors.ts';

export interface TextStreamerOptions {
  /** Leave special tokens (<eos>, <end_of_turn>, ...) out of the text. Default false, as in decode. */
  skipSpecialTokens?: boolean;
}

const REPLACEMENT = '\uFFFD';

export class TextStreamer {
  private readonly tokenizer: HfTokenizer;
  private readonly skipSpecialTokens: boolean;
  /** Ids since the last newline (the current line). */
  private line: number[] = [];
  /** How many characters of decode(line) have been returned. */
  private printed = 0;

  constructor(tokenizer: HfTokenizer, { skipSpecialTokens = false }: TextStreamerOptions = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = skipSpecialTokens;
  }

  /** Adds one token id; returns the text that is now final and was not returned before (often ""). */
  push(tokenId: number): string {
    if (this.tokenizer.idToToken(tokenId) === null || tokenId >= this.tokenizer.vocabSize) {
      throw new TokenizerError(`TextStreamer.push: ${tokenId} is not a token id of ${this.tokenizer.source} (vocabulary of ${this.tokenizer.vocabSize})`);
    }
    this.line.push(tokenId);
    if (this.inByteRun()) return '';
    const text = this.tokenizer.decode(this.line, { skipSpecialTokens: this.skipSpecialTokens });
    if (text.endsWith('\n')) return this.flush(text);
    let end = text.length;
    while (end > this.printed && text[end - 1] === REPLACEMENT) end--;
    const piece = text.slice(this.printed, end);
    this.printed = end;
    return piece;
  }

  /** Everything not yet returned (an unfinished byte run included); the streamer starts afresh. */
  end(): string {
    if (this.line.length === 0) return '';
    return this.flush(this.tokenizer.decode(this.line, { skipSpecialTokens: this.skipSpecialTokens }));
  }

  private flush(text: string): string {
    const piece = text.slice(this.printed);
    this.line = [];
    this.printed = 0;
    return piece;
  }

  /** Whether the last token that decoding sees is a byte token, i.e. a byte run may still grow. */
  private inByteRun(): boolean {
    for (let i = this.line.length - 1; i >= 0; i--) {
      const id = this.line[i];
      if (this.skipSpecialTokens && this.tokenizer.isSpecialId(id)) continue;
      return this.tokenizer.isByteToken(id);
    }
    return false;
  }
}
