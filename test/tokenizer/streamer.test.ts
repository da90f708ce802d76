// TextStreamer: the pieces it returns add up to exactly decode(all ids) for
// any id sequence (byte runs cut anywhere, invalid ones, special tokens,
// newlines), it never shows a U+FFFD for a character that byte tokens spell
// in parts, and it returns each ordinary token's text on the push that brings
// it. On the fixture and on the real Gemma tokenizer.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { TextStreamer } from '../../lib/tokenizer/streamer.ts';
import { FIXTURE_DIR, gemmaTokenizer } from './files.ts';

const tiny = HfTokenizer.fromPretrained(FIXTURE_DIR);
const gemma = gemmaTokenizer();

/** Every piece, push by push, then end()'s. */
function stream(tokenizer: HfTokenizer, ids: number[], skipSpecialTokens = false): string[] {
  const streamer = new TextStreamer(tokenizer, { skipSpecialTokens });
  return [...ids.map((id) => streamer.push(id)), streamer.end()];
}

/** Ids to draw from: each tokenizer's byte tokens, special tokens, newlines and ordinary tokens, mixed. */
const tinyIds = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 });
const gemmaIds = fc.array(
  fc.oneof(
    fc.integer({ min: 217, max: 472 }), // <0x00>..<0xFF>
    fc.constantFrom(0, 1, 2, 3, 106, 107, 108, 109), // specials, turn markers, "\n", "\n\n"
    fc.integer({ min: 473, max: 255999 }),
  ),
  { maxLength: 40 },
);

describe('TextStreamer', () => {
  test('the pieces add up to decode(all ids), for any ids (fixture)', () => {
    fc.assert(
      fc.property(tinyIds, fc.boolean(), (ids, skip) => {
        expect(stream(tiny, ids, skip).join('')).toBe(tiny.decode(ids, { skipSpecialTokens: skip }));
      }),
      { numRuns: 500 },
    );
  });

  test('the pieces add up to decode(all ids), for any ids (Gemma)', () => {
    fc.assert(
      fc.property(gemmaIds, fc.boolean(), (ids, skip) => {
        expect(stream(gemma, ids, skip).join('')).toBe(gemma.decode(ids, { skipSpecialTokens: skip }));
      }),
      { numRuns: 300 },
    );
  });

  test('text that byte tokens spell in parts never shows a U+FFFD (Gemma)', () => {
    const unit = fc.oneof(
      fc.constantFrom('𝔘', '𝔄', '\u0000', '\u0007'), // not in the vocabulary: byte tokens
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== '\uFFFD'),
      fc.constantFrom(' ', '\n', 'Hello', ' world'),
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 30 }), (text) => {
        const pieces = stream(gemma, gemma.encode(text));
        expect(pieces.join('')).toBe(`<bos>${text}`);
        for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
      }),
      { numRuns: 200 },
    );
  });

  test('each ordinary token\'s text comes out on its own push, without waiting for a space', () => {
    const ids = gemma.encode('Hello world, streaming.\nNext line', { addSpecialTokens: false });
    const pieces = stream(gemma, ids);
    expect(pieces.slice(0, -1)).toEqual(ids.map((id) => gemma.decode([id])));
    expect(pieces.at(-1)).toBe('');
  });

  test('a character in byte tokens comes out whole, with the next ordinary token or at end()', () => {
    const ids = gemma.encode('Hi 𝔘 there', { addSpecialTokens: false });
    const fraktur = ids.filter((id) => gemma.isByteToken(id));
    expect(fraktur).toHaveLength(4);
    const pieces = stream(gemma, ids);
    expect(pieces.filter((p) => p !== '')).toEqual(['Hi', ' ', '𝔘 there']);
    expect(stream(gemma, [4521, ...fraktur])).toEqual(['Hello', '', '', '', '', '𝔘']);
  });

  test('an invalid byte run comes out as Rust decodes it, at the end of the run', () => {
    const [a, b] = gemma.encode('𝔘', { addSpecialTokens: false });
    expect(stream(gemma, [a, b, 4521])).toEqual(['', '', '\uFFFD\uFFFDHello', '']);
    expect(stream(tiny, [tiny.tokenToId('<0xF0>')!])).toEqual(['', '\uFFFD']);
  });

  test('a byte-level (GPT-2 style) decoder: the U+FFFD of a half character is held back', () => {
    // Byte-level BPE writes byte 0xC3 as "Ã" and 0xA9 as "©"; together they are "é".
    const byteLevel = HfTokenizer.fromJson({
      version: '1.0',
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', vocab: { H: 0, i: 1, 'Ã': 2, '©': 3, 'Ġ': 4 }, merges: [] },
    });
    expect(byteLevel.encode('Hi é')).toEqual([0, 1, 4, 2, 3]);
    expect(byteLevel.decode([2])).toBe('\uFFFD');
    expect(stream(byteLevel, [0, 1, 4, 2, 3])).toEqual(['H', 'i', ' ', '', 'é', '']);
    expect(stream(byteLevel, [0, 2])).toEqual(['H', '', '\uFFFD']);
  });

  test('special tokens are shown or skipped as asked', () => {
    const ids = [2, ...gemma.encode('Hello', { addSpecialTokens: false }), 107, 1];
    expect(stream(gemma, ids)).toEqual(['<bos>', 'Hello', '<end_of_turn>', '<eos>', '']);
    expect(stream(gemma, ids, true)).toEqual(['', 'Hello', '', '', '']);
  });

  test('end() starts afresh; a bad id is an error naming it', () => {
    const streamer = new TextStreamer(tiny);
    expect(streamer.push(235)).toBe('Hello');
    expect(streamer.end()).toBe('');
    expect(streamer.push(240)).toBe(' world');
    expect(streamer.end()).toBe('');
    expect(streamer.end()).toBe('');
    expect(() => streamer.push(256)).toThrow(/TextStreamer.push: 256 is not a token id of .* \(vocabulary of 256\)/);
    expect(() => streamer.push(-3)).toThrow(/-3 is not a token id/);
    // The bad id was not kept.
    expect(streamer.push(248)).toBe('Hi');
  });
});
