// parseGemma2Config's cross-checks of the special token ids against the
// vocabulary: every one (eos as one id or a list) must be an integer in
// [0, vocab_size), and the error names the field and the value.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { ConfigError, parseGemma2Config } from '../../lib/model/config.ts';

const parse = (fields: Record<string, unknown>) => () => parseGemma2Config({ vocab_size: 10, ...fields });

describe('special token ids inside the vocabulary', () => {
  test('an eos_token_id at or past vocab_size is refused, alone or in a list, naming the entry', () => {
    expect(parse({ eos_token_id: 10 })).toThrow(/^config: eos_token_id \(10\) must be below vocab_size \(10\)/);
    expect(parse({ eos_token_id: [1, 107, 3] })).toThrow(/^config: eos_token_id\[1\] \(107\) must be below vocab_size \(10\)/);
    expect(parse({ bos_token_id: 12 })).toThrow(/bos_token_id \(12\) must be below vocab_size/);
    expect(parse({ pad_token_id: 10 })).toThrow(ConfigError);
  });

  test('negative or fractional ids are refused with the field and value', () => {
    expect(parse({ eos_token_id: -1 })).toThrow(/eos_token_id must be a non-negative integer.*got -1/);
    expect(parse({ eos_token_id: [1, 2.5] })).toThrow(/eos_token_id .*got \[1,2\.5\]/);
    expect(parse({ bos_token_id: 1.5 })).toThrow(/bos_token_id must be a non-negative integer or null, got 1\.5/);
  });

  test('any ids inside [0, vocab_size) (or null) are accepted as given', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }).chain((vocab) => fc.tuple(fc.constant(vocab), fc.array(fc.nat(vocab - 1), { minLength: 1, maxLength: 4 }), fc.option(fc.nat(vocab - 1)))), ([vocab, eos, pad]) => {
        const config = parseGemma2Config({ vocab_size: vocab, eos_token_id: eos, pad_token_id: pad, bos_token_id: null });
        expect(config.eosTokenId).toEqual(eos);
        expect(config.padTokenId).toBe(pad);
      }),
    );
  });
});
