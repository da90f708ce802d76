// Which strings encode as one token, never split: tokenizer.json's
// added_tokens, plus what Transformers adds on loading. PreTrainedTokenizerFast
// also registers (1) tokenizer_config.json's added_tokens_decoder entries that
// tokenizer.json lacks and (2) every special token the config names (bos, eos,
// ..., additional_special_tokens) that is not an added token yet. Without (2)
// a tokenizer.json that predates a chat format splits its turn markers: the
// first Gemma release's file lists only <pad> <eos> <bos> <unk>, so
// "<start_of_turn>" would encode as "<", "start", "_", ... instead of id 106;
// Gemma-2's config names it in additional_special_tokens.
//
// A token is only ever registered at the id the vocabulary already gives it.
// Transformers would append an unknown special token at a new id past the
// vocabulary — an id the model has no embedding for — so that is an error here.

import type { AddedTokenSpec, TokenizerConfig } from './config.ts';
import { TokenizerError } from './errors.ts';

type Json = Record<string, unknown>;

/** id of a token in tokenizer.json's model vocabulary (an object for BPE/WordPiece, a list of [token, score] for Unigram). */
export function modelVocabLookup(model: Json): (token: string) => number | undefined {
  const vocab = model.vocab;
  if (Array.isArray(vocab)) {
    const ids = new Map<string, number>();
    vocab.forEach((entry, id) => {
      if (Array.isArray(entry) && typeof entry[0] === 'string' && !ids.has(entry[0])) ids.set(entry[0], id);
    });
    return (token) => ids.get(token);
  }
  if (typeof vocab === 'object' && vocab !== null) {
    const table = vocab as Record<string, unknown>;
    return (token) => (Object.hasOwn(table, token) && typeof table[token] === 'number' ? (table[token] as number) : undefined);
  }
  return () => undefined;
}

/** tokenizer.json's added_tokens, checked. */
export function readAddedTokens(value: unknown, file: string): AddedTokenSpec[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TokenizerError(`${file}: added_tokens must be a list`);
  return value.map((entry: unknown, i) => {
    const token = entry as Json;
    if (typeof token !== 'object' || token === null || typeof token.content !== 'string' || !Number.isSafeInteger(token.id) || (token.id as number) < 0) {
      throw new TokenizerError(`${file}: added_tokens[${i}] must have a non-negative integer "id" and a string "content"`);
    }
    const special = token.special === true;
    return {
      id: token.id as number,
      content: token.content,
      single_word: token.single_word === true,
      lstrip: token.lstrip === true,
      rstrip: token.rstrip === true,
      normalized: typeof token.normalized === 'boolean' ? token.normalized : !special,
      special,
    };
  });
}

/**
 * tokenizer.json's added tokens with the config's added_tokens_decoder and
 * special tokens registered as Transformers registers them (see the top of
 * this file). Conflicting ids are errors naming both files.
 */
export function mergeAddedTokens(
  fromTokenizerJson: AddedTokenSpec[],
  vocabId: (token: string) => number | undefined,
  config: TokenizerConfig,
  tokenizerFile: string,
): AddedTokenSpec[] {
  const merged = [...fromTokenizerJson];
  const byContent = new Map(merged.map((t) => [t.content, t]));
  const byId = new Map(merged.map((t) => [t.id, t]));
  const add = (token: AddedTokenSpec) => {
    merged.push(token);
    byContent.set(token.content, token);
    byId.set(token.id, token);
  };

  for (const token of config.addedTokens) {
    const field = `${config.file}: added_tokens_decoder["${token.id}"] (${JSON.stringify(token.content)})`;
    const sameId = byId.get(token.id);
    if (sameId !== undefined) {
      if (sameId.content !== token.content) throw new TokenizerError(`${field} disagrees with ${tokenizerFile}, where id ${token.id} is ${JSON.stringify(sameId.content)}`);
      continue;
    }
    const sameContent = byContent.get(token.content);
    if (sameContent !== undefined) throw new TokenizerError(`${field} disagrees with ${tokenizerFile}, where that token has id ${sameContent.id}`);
    const inVocab = vocabId(token.content);
    if (inVocab !== undefined && inVocab !== token.id) throw new TokenizerError(`${field} disagrees with ${tokenizerFile}'s vocabulary, where that token has id ${inVocab}`);
    add(token);
  }

  const named = Object.entries(config.specialTokens).map(([key, token]) => [key, token] as const);
  const additional = config.additionalSpecialTokens.map((token, i) => [`additional_special_tokens[${i}]`, token] as const);
  for (const [field, content] of [...named, ...additional]) {
    if (byContent.has(content)) continue;
    const id = vocabId(content);
    if (id === undefined) {
      throw new TokenizerError(`${config.file}: ${field} is ${JSON.stringify(content)}, which is neither in ${tokenizerFile}'s vocabulary nor one of its added tokens`);
    }
    const other = byId.get(id);
    if (other !== undefined) throw new TokenizerError(`${config.file}: ${field} ${JSON.stringify(content)} has id ${id}, which ${tokenizerFile} gives to the added token ${JSON.stringify(other.content)}`);
    add({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  return merged;
}
