// HfTokenizer on the tiny fixture folder (test/tokenizer/fixtures/tiny, a
// Gemma-shaped BPE: ids 0-3 <pad> <eos> <bos> <unk>, 4-5 the turn markers,
// printable ASCII, "▁" for space, byte tokens for \t \r and 0x80-0xFF, and 24
// merges): loading, special ids, <bos> handling, round trips, byte fallback as
// Rust decodes it, and every loading and argument error naming its cause.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { TokenizerError } from '../../lib/tokenizer/errors.ts';
import { MemoryModelFolder } from '../../lib/io/memory-folder.ts';
import { FIXTURE_DIR, fixtureConfig, fixtureJson } from './files.ts';
import { tempDir } from '../temp-dir.ts';

const tiny = HfTokenizer.fromPretrained(FIXTURE_DIR);
const id = (token: string) => tiny.tokenToId(token)!;
const byteIds = (text: string) => Array.from(new TextEncoder().encode(text), (b) => id(`<0x${b.toString(16).toUpperCase()}>`));

const tmp = tempDir('tokenizer');
let folders = 0;

/** A folder on disk holding the given files (name -> text). */
function folder(files: Record<string, string>): string {
  const dir = path.join(tmp, `folder-${folders++}`);
  fs.mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
const fixtureText = (name: string) => fs.readFileSync(path.join(FIXTURE_DIR, name), 'utf8');

describe('the fixture folder', () => {
  test('vocabulary and special ids', () => {
    expect(tiny.vocabSize).toBe(256);
    expect([tiny.padTokenId, tiny.eosTokenId, tiny.bosTokenId, tiny.unkTokenId]).toEqual([0, 1, 2, 3]);
    expect([tiny.startOfTurnId, tiny.endOfTurnId]).toEqual([4, 5]);
    expect([tiny.idToToken(2), tiny.idToToken(240), tiny.idToToken(256), tiny.idToToken(-1), tiny.idToToken(1.5)]).toEqual(['<bos>', '▁world', null, null, null]);
    expect([tiny.tokenToId('Hello'), tiny.tokenToId('<0xF0>'), tiny.tokenToId('nope')]).toEqual([235, id('<0xF0>'), null]);
    expect([0, 1, 2, 3, 4, 5, 6, 235].map((i) => tiny.isSpecialId(i))).toEqual([true, true, true, true, true, true, false, false]);
    expect([id('<0x09>'), id('<0xF0>'), id('a')].map((i) => tiny.isByteToken(i))).toEqual([true, true, false]);
    expect(tiny.specialTokensMap()).toEqual({
      bos_token: '<bos>',
      eos_token: '<eos>',
      unk_token: '<unk>',
      pad_token: '<pad>',
      additional_special_tokens: ['<start_of_turn>', '<end_of_turn>'],
    });
  });

  test('encode puts <bos> first, as tokenizer(text) does; addSpecialTokens: false gives the bare ids', () => {
    expect(tiny.encode('Hello world')).toEqual([2, 235, 240]);
    expect(tiny.encode('Hello world', { addSpecialTokens: false })).toEqual([235, 240]);
    expect(tiny.encode('')).toEqual([2]);
    expect(tiny.encode('', { addSpecialTokens: false })).toEqual([]);
    // A special token written in the text is that token, not its characters.
    expect(tiny.encode('<bos>Hi<eos>', { addSpecialTokens: false })).toEqual([2, 248, 1]);
  });

  test('spaces become "▁" and merge into runs; nothing is added in front (Gemma has no dummy prefix)', () => {
    expect(tiny.encode(' the', { addSpecialTokens: false })).toEqual([id('▁the')]);
    expect(tiny.encode('a   b', { addSpecialTokens: false })).toEqual([id('a'), id('▁▁'), id('▁'), id('b')]);
    expect(tiny.encode('    ', { addSpecialTokens: false })).toEqual([id('▁▁▁▁')]);
  });

  test('decode, with and without special tokens', () => {
    const ids = tiny.encode('<start_of_turn>user\nHi<end_of_turn>\n');
    expect(ids).toEqual([2, 4, id('user'), id('\n'), id('Hi'), 5, id('\n')]);
    expect(tiny.decode(ids)).toBe('<bos><start_of_turn>user\nHi<end_of_turn>\n');
    expect(tiny.decode(ids, { skipSpecialTokens: true })).toBe('user\nHi\n');
    expect(tiny.decode([])).toBe('');
    expect(tiny.decode([2, 1], { skipSpecialTokens: true })).toBe('');
  });

  test('round trip: decode(encode(text)) is the text, <bos> in front', () => {
    const unit = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }).filter((c) => c >= ' ' && c <= '~'),
      fc.constantFrom(' ', '  ', '\n', '\t', '\r\n', 'Hello', ' world', ' the', 'user', 'model', 'ing'),
      fc.constantFrom('é', '😀', '€', 'ß', '中', '\uFEFF', '👩‍👩‍👧'),
      fc.constantFrom('<bos>', '<eos>', '<start_of_turn>', '<end_of_turn>'),
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 30 }), (text) => {
        expect(tiny.decode(tiny.encode(text, { addSpecialTokens: false }))).toBe(text);
        expect(tiny.decode(tiny.encode(text))).toBe(`<bos>${text}`);
      }),
      { numRuns: 300 },
    );
  });

  test('characters outside the vocabulary are spelled in byte tokens, or <unk> when a byte is missing', () => {
    expect(tiny.encode('é😀', { addSpecialTokens: false })).toEqual(byteIds('é😀'));
    expect(tiny.encode('\t\r', { addSpecialTokens: false })).toEqual([id('<0x09>'), id('<0x0D>')]);
    // There is no <0x00>, so U+0000 is <unk>, which decodes as "<unk>" and is a special token.
    const ids = tiny.encode('a\u0000b', { addSpecialTokens: false });
    expect(ids).toEqual([id('a'), 3, id('b')]);
    expect([tiny.decode(ids), tiny.decode(ids, { skipSpecialTokens: true })]).toEqual(['a<unk>b', 'ab']);
  });

  test('byte runs decode as in Rust: an invalid run is one U+FFFD per byte; a leading U+FEFF is kept', () => {
    const [f0, x9f, x98, x80] = byteIds('😀');
    expect(tiny.decode([f0, x9f, x98, x80])).toBe('😀');
    expect(tiny.decode([f0, x9f])).toBe('\uFFFD\uFFFD'); // @huggingface/tokenizers alone gives one
    expect(tiny.decode([f0, x9f, id('a')])).toBe('\uFFFD\uFFFDa');
    // The whole run is replaced, its valid "é" included (Rust's String::from_utf8 fails as a whole).
    expect(tiny.decode([...byteIds('é'), f0, id('a')])).toBe('\uFFFD\uFFFD\uFFFDa');
    // A non-byte token ends a run: two halves of a character on either side of one never join.
    expect(tiny.decode([f0, x9f, id('a'), x98, x80])).toBe('\uFFFD\uFFFDa\uFFFD\uFFFD');
    // TextDecoder's default would strip this as a byte-order mark.
    expect(tiny.decode([...byteIds('\uFEFF'), id('x')])).toBe('\uFEFFx');
    expect(tiny.decode(byteIds('\uFEFF'))).toBe('\uFEFF');
  });
});

describe('<bos> and <eos>: tokenizer_config.json decides, as GemmaTokenizerFast rebuilds its post-processor', () => {
  test('add_bos_token false and add_eos_token true override tokenizer.json\'s post-processor', () => {
    const t = HfTokenizer.fromJson(fixtureJson(), { ...fixtureConfig(), add_bos_token: false, add_eos_token: true });
    expect(t.encode('Hi')).toEqual([248, 1]);
    expect(t.encode('Hi', { addSpecialTokens: false })).toEqual([248]);
  });

  test('GemmaTokenizer without the flags: <bos> on, <eos> off (its defaults)', () => {
    const json = fixtureJson();
    json.post_processor = null;
    const { add_bos_token: _b, add_eos_token: _e, ...config } = fixtureConfig();
    expect(HfTokenizer.fromJson(json, config).encode('Hi')).toEqual([2, 248]);
  });

  test('another class without the flags: tokenizer.json\'s post-processor decides', () => {
    const { add_bos_token: _b, add_eos_token: _e, ...config } = fixtureConfig();
    const generic = { ...config, tokenizer_class: 'PreTrainedTokenizerFast' };
    expect(HfTokenizer.fromJson(fixtureJson(), generic).encode('Hi')).toEqual([2, 248]);
    const json = fixtureJson();
    json.post_processor = null;
    expect(HfTokenizer.fromJson(json, generic).encode('Hi')).toEqual([248]);
    // ... and with a flag given, the flags decide, the other one defaulting to false.
    expect(HfTokenizer.fromJson(fixtureJson(), { ...generic, add_eos_token: true }).encode('Hi')).toEqual([248, 1]);
  });

  test('no tokenizer_config.json: the post-processor decides and no special token is named', () => {
    const t = HfTokenizer.fromPretrained(folder({ 'tokenizer.json': fixtureText('tokenizer.json') }));
    expect(t.encode('Hi')).toEqual([2, 248]);
    expect([t.bosTokenId, t.eosTokenId, t.padTokenId]).toEqual([null, null, null]);
    expect(() => t.applyChatTemplate([{ role: 'user', content: 'Hi' }])).toThrow(/has no chat template/);
  });
});

describe('added tokens from tokenizer_config.json', () => {
  /** The fixture as an older tokenizer.json would have it: the turn markers are ordinary vocabulary entries. */
  function withoutTurnMarkers() {
    const json = fixtureJson();
    json.added_tokens = (json.added_tokens as { id: number }[]).filter((t) => t.id < 4);
    return json;
  }

  test('special tokens the config names become unsplittable, as Transformers registers them', () => {
    const { additional_special_tokens: _a, ...config } = fixtureConfig();
    const plain = HfTokenizer.fromJson(withoutTurnMarkers(), config);
    // No merge applies inside it, so it falls apart into its 13 characters.
    expect(plain.encode('<end_of_turn>', { addSpecialTokens: false })).toEqual([...'<end_of_turn>'].map(id));
    expect(plain.isSpecialId(5)).toBe(false);
    const registered = HfTokenizer.fromJson(withoutTurnMarkers(), fixtureConfig());
    expect(registered.encode('<end_of_turn>', { addSpecialTokens: false })).toEqual([5]);
    expect(registered.isSpecialId(5)).toBe(true);
    expect(registered.decode([5, id('a')], { skipSpecialTokens: true })).toBe('a');
  });

  test('added_tokens_decoder entries are registered too, with their flags', () => {
    const config = { ...fixtureConfig(), additional_special_tokens: [], added_tokens_decoder: { '4': { content: '<start_of_turn>', special: false } } };
    const t = HfTokenizer.fromJson(withoutTurnMarkers(), config);
    expect(t.encode('<start_of_turn>x', { addSpecialTokens: false })).toEqual([4, id('x')]);
    expect(t.isSpecialId(4)).toBe(false);
    expect(t.decode([4], { skipSpecialTokens: true })).toBe('<start_of_turn>');
  });

  test('conflicts and unknown special tokens are errors naming the field, the token and the id', () => {
    const json = fixtureJson();
    expect(() => HfTokenizer.fromJson(json, { ...fixtureConfig(), added_tokens_decoder: { '4': { content: '<x>' } } })).toThrow(
      /added_tokens_decoder\["4"\] \("<x>"\) disagrees with tokenizer.json, where id 4 is "<start_of_turn>"/,
    );
    expect(() => HfTokenizer.fromJson(json, { ...fixtureConfig(), added_tokens_decoder: { '9': { content: '<bos>' } } })).toThrow(/where that token has id 2/);
    expect(() => HfTokenizer.fromJson(withoutTurnMarkers(), { ...fixtureConfig(), added_tokens_decoder: { '9': { content: '<end_of_turn>' } } })).toThrow(
      /vocabulary, where that token has id 5/,
    );
    expect(() => HfTokenizer.fromJson(json, { ...fixtureConfig(), pad_token: '[PAD]' })).toThrow(
      /tokenizer_config.json: pad_token is "\[PAD\]", which is neither in tokenizer.json's vocabulary nor one of its added tokens/,
    );
    expect(() => HfTokenizer.fromJson(json, { ...fixtureConfig(), additional_special_tokens: ['<start_of_turn>', '<tool>'] })).toThrow(/additional_special_tokens\[1\] is "<tool>"/);
  });
});

describe('errors name the folder, file, field, token or id', () => {
  test('a missing folder, a file instead of a folder', () => {
    expect(() => HfTokenizer.fromPretrained('/nonexistent/model')).toThrow(TokenizerError);
    expect(() => HfTokenizer.fromPretrained('/nonexistent/model')).toThrow(/\/nonexistent\/model: not a folder \(nothing exists at that path\)/);
    expect(() => HfTokenizer.fromPretrained(path.join(FIXTURE_DIR, 'tokenizer.json'))).toThrow(/tokenizer\.json: not a folder \(it is a file\)/);
  });

  test('no tokenizer.json: says so, and that gemma2 generate --ids needs none', () => {
    const dir = folder({ 'config.json': '{}' });
    expect(() => HfTokenizer.fromPretrained(dir)).toThrow(TokenizerError);
    expect(() => HfTokenizer.fromPretrained(dir)).toThrow(new RegExp(`${dir} has no tokenizer.json.*gemma2 generate --ids`));
  });

  test('invalid JSON names the file', () => {
    const badTokenizer = folder({ 'tokenizer.json': '{"model": ' });
    expect(() => HfTokenizer.fromPretrained(badTokenizer)).toThrow(new RegExp(`${path.join(badTokenizer, 'tokenizer.json')}: invalid JSON`));
    const badConfig = folder({ 'tokenizer.json': fixtureText('tokenizer.json'), 'tokenizer_config.json': '{"bos_token": "<bos>",}' });
    expect(() => HfTokenizer.fromPretrained(badConfig)).toThrow(new RegExp(`${path.join(badConfig, 'tokenizer_config.json')}: invalid JSON`));
  });

  test('malformed tokenizer.json and tokenizer_config.json fields', () => {
    const config = fixtureConfig();
    expect(() => HfTokenizer.fromJson([], config)).toThrow(/tokenizer.json: expected a JSON object/);
    expect(() => HfTokenizer.fromJson({ version: '1.0' }, config)).toThrow(/tokenizer.json: no "model" object/);
    expect(() => HfTokenizer.fromJson({ ...fixtureJson(), added_tokens: [{ id: 'zero', content: '<pad>' }] }, config)).toThrow(/tokenizer.json: added_tokens\[0\] must have/);
    expect(() => HfTokenizer.fromJson({ ...fixtureJson(), decoder: { type: 'Telepathy' } }, config)).toThrow(/tokenizer.json: @huggingface\/tokenizers cannot load it: Unknown Decoder type: Telepathy/);
    expect(() => HfTokenizer.fromJson(fixtureJson(), { ...config, bos_token: 5 })).toThrow(/tokenizer_config.json: bos_token must be a string, null or \{"content": string\}, got 5/);
    expect(() => HfTokenizer.fromJson(fixtureJson(), { ...config, add_bos_token: 'yes' })).toThrow(/add_bos_token must be true or false, got "yes"/);
    expect(() => HfTokenizer.fromJson(fixtureJson(), { ...config, bos_token: null })).toThrow(/add_bos_token is true but bos_token is not set/);
    expect(() => HfTokenizer.fromJson(fixtureJson(), { ...config, chat_template: 7 })).toThrow(/chat_template must be a string or a list/);
    expect(() => HfTokenizer.fromJson(fixtureJson(), 'config', { configFile: 'my/tokenizer_config.json' })).toThrow(/my\/tokenizer_config.json: expected a JSON object/);
  });

  test('a piece with no id and no unk_token to stand for it', () => {
    // A post-processor that adds a token the vocabulary does not have.
    const json = fixtureJson();
    json.post_processor = { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<cls>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: {} };
    (json.model as Record<string, unknown>).unk_token = null;
    const t = HfTokenizer.fromJson(json, { tokenizer_class: 'PreTrainedTokenizerFast' });
    expect(() => t.encode('Hi')).toThrow(/encode: tokenizer.json has no id for the piece "<cls>" and no unk_token to stand for it/);
    expect(t.encode('Hi', { addSpecialTokens: false })).toEqual([248]);
  });

  test('special tokens written as AddedToken objects are read by their content', () => {
    const t = HfTokenizer.fromJson(fixtureJson(), { ...fixtureConfig(), eos_token: { __type: 'AddedToken', content: '<end_of_turn>', special: true } });
    expect(t.eosTokenId).toBe(5);
  });

  test('decode rejects ids outside the vocabulary instead of decoding them as <unk>', () => {
    expect(() => tiny.decode([2, 256])).toThrow(/decode: ids\[1\] = 256 is not a token id of .*\(vocabulary of 256\)/);
    expect(() => tiny.decode([-1])).toThrow(/ids\[0\] = -1/);
    expect(() => tiny.decode([1.5])).toThrow(/ids\[0\] = 1.5/);
  });

  test('encode rejects a lone surrogate, which has no UTF-8 bytes', () => {
    expect(() => tiny.encode('ab\uD83Dc')).toThrow(/encode: text has a lone surrogate \(U\+D83D\) at index 2/);
    expect(tiny.encode('\uD83D\uDE00', { addSpecialTokens: false })).toEqual(byteIds('😀'));
  });
});

describe('from bytes: a MemoryModelFolder reads like the folder on disk', () => {
  const bytesOf = (dir: string, files: string[]) => new MemoryModelFolder(files.map((f) => [f, new Uint8Array(fs.readFileSync(path.join(dir, f)))]), 'dropped');

  test('the fixture: same ids, text, special tokens and chat template', () => {
    const fromBytes = HfTokenizer.fromPretrained(bytesOf(FIXTURE_DIR, ['tokenizer.json', 'tokenizer_config.json']));
    expect(fromBytes.source).toBe('dropped');
    for (const text of ['Hello world', 'tab\tand \u{1F600}', '<start_of_turn>user\nHi<end_of_turn>']) {
      expect(fromBytes.encode(text)).toEqual(tiny.encode(text));
      expect(fromBytes.decode(tiny.encode(text))).toBe(tiny.decode(tiny.encode(text)));
    }
    expect(fromBytes.specialTokensMap()).toEqual(tiny.specialTokensMap());
    const hi = [{ role: 'user', content: 'Hi' }];
    expect(fromBytes.applyChatTemplate(hi, { addGenerationPrompt: true })).toEqual(tiny.applyChatTemplate(hi, { addGenerationPrompt: true }));
  });

  test('errors name the folder and file by the folder\'s label', () => {
    const noTokenizer = new MemoryModelFolder({ 'config.json': '{}' }, 'dropped');
    expect(() => HfTokenizer.fromPretrained(noTokenizer)).toThrow(/^dropped has no tokenizer\.json, so there is no tokenizer/);
    const badConfig = new MemoryModelFolder({ 'tokenizer.json': fixtureText('tokenizer.json'), 'tokenizer_config.json': '{,}' }, 'dropped');
    expect(() => HfTokenizer.fromPretrained(badConfig)).toThrow(/^dropped\/tokenizer_config\.json: invalid JSON/);
    const notText = new MemoryModelFolder({ 'tokenizer.json': Uint8Array.of(0xc3, 0x28) }, 'dropped');
    expect(() => HfTokenizer.fromPretrained(notText)).toThrow(TokenizerError);
    expect(() => HfTokenizer.fromPretrained(notText)).toThrow('dropped/tokenizer.json: is not valid UTF-8 text');
  });
});
