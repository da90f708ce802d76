// Byte-fallback decoding as the Rust tokenizers library (and so Transformers)
// does it. A SentencePiece-style vocabulary spells characters it lacks as
// UTF-8 bytes, one token each ("<0xF0>", "<0x9D>", ...); the ByteFallback
// decoder joins each run of such tokens back into text.
//
// @huggingface/tokenizers 0.2.0 differs from Rust in two ways, both fixed here:
//  - an invalid run (a character cut off, a stray continuation byte): Rust
//    gives one U+FFFD per byte of the run and keeps none of its valid bytes;
//    the JS decoder gives one U+FFFD per maximal invalid subsequence (WHATWG),
//    so "<0xF0><0x9D>" decodes to 1 replacement character instead of 2;
//  - a run starting with EF BB BF: the JS decoder's TextDecoder strips it as a
//    byte-order mark; Rust keeps U+FEFF.

import { ByteFallbackDecoder, SequenceDecoder, type Decoder } from '@huggingface/tokenizers';

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte a "<0xNN>" token stands for, or null for any other token. */
export function byteOfToken(token: string): number | null {
  const match = BYTE_TOKEN.exec(token);
  return match === null ? null : parseInt(match[1], 16);
}

// fatal: any invalid sequence throws, so the whole run can be replaced as in
// Rust's String::from_utf8; ignoreBOM: keep a leading U+FEFF.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A run of byte tokens as Rust decodes it: its text, or one U+FFFD per byte when it is not valid UTF-8. */
function decodeRun(bytes: number[]): string[] {
  try {
    return [strictUtf8.decode(Uint8Array.from(bytes))];
  } catch {
    return bytes.map(() => '\uFFFD');
  }
}

class RustByteFallback extends ByteFallbackDecoder {
  override decode_chain(tokens: string[]): string[] {
    const out: string[] = [];
    let run: number[] = [];
    for (const token of tokens) {
      const byte = byteOfToken(token);
      if (byte !== null) {
        run.push(byte);
        continue;
      }
      if (run.length > 0) out.push(...decodeRun(run));
      run = [];
      out.push(token);
    }
    if (run.length > 0) out.push(...decodeRun(run));
    return out;
  }
}

/**
 * The decoder with every ByteFallback step (at the top or inside a Sequence)
 * replaced by the Rust-exact one; whether it had one at all.
 */
export function withRustByteFallback(decoder: Decoder | null): { decoder: Decoder | null; hasByteFallback: boolean } {
  if (decoder instanceof ByteFallbackDecoder) {
    const exact = new RustByteFallback(decoder.config as ConstructorParameters<typeof ByteFallbackDecoder>[0]);
    // The backend's constructor sets these on its top-level decoder.
    exact.added_tokens = decoder.added_tokens;
    exact.end_of_word_suffix = decoder.end_of_word_suffix;
    return { decoder: exact, hasByteFallback: true };
  }
  if (decoder instanceof SequenceDecoder) {
    let hasByteFallback = false;
    decoder.decoders = decoder.decoders.map((step) => {
      const replaced = withRustByteFallback(step);
      hasByteFallback ||= replaced.hasByteFallback;
      return replaced.decoder ?? step;
    });
    return { decoder, hasByteFallback };
  }
  return { decoder, hasByteFallback: false };
}
