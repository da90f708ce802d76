// tokenizer_config.json: the part of a Hugging Face tokenizer that lives
// beside tokenizer.json — which strings are the special tokens, whether
// encoding adds <bos>/<eos>, the chat templates, decoding options. Parsed
// once, with Transformers' defaults, and every malformed field reported with
// the file and field name. Unknown fields are ignored.

import { TokenizerError } from './errors.ts';

/** The named special tokens Transformers knows (SPECIAL_TOKENS_ATTRIBUTES, less the list). */
export const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;
export type SpecialTokenKey = (typeof SPECIAL_TOKEN_KEYS)[number];

/** An added token as tokenizer.json and added_tokens_decoder spell it. */
export interface AddedTokenSpec {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface TokenizerConfig {
  /** The file name used in error messages. */
  file: string;
  tokenizerClass: string | null;
  /** The named special tokens that are set (a null in the file leaves one unset). */
  specialTokens: Partial<Record<SpecialTokenKey, string>>;
  additionalSpecialTokens: string[];
  /** added_tokens_decoder, in id order. */
  addedTokens: AddedTokenSpec[];
  /**
   * Whether encode adds <bos> / <eos>. null: the file does not decide, and
   * tokenizer.json's post-processor does (see bosEosRule).
   */
  addBosToken: boolean | null;
  addEosToken: boolean | null;
  cleanUpTokenizationSpaces: boolean;
  /** Chat templates by name; a single template is "default". Empty when the file has none. */
  chatTemplates: Map<string, string>;
  /** The parsed file, for the options the backend reads itself. */
  raw: Readonly<Record<string, unknown>>;
}

/**
 * GemmaTokenizer(Fast) and LlamaTokenizer(Fast) rebuild the post-processor
 * from add_bos_token / add_eos_token with defaults true / false, whatever
 * tokenizer.json says; other classes do so only when the file names a flag
 * (and then default both to false), as Transformers' TokenizersBackend does.
 */
const BOS_BY_DEFAULT = /^(Gemma|Llama|CodeLlama)Tokenizer(Fast)?$/;

/** GemmaTokenizer(Fast)'s constructor defaults, used for tokens the file leaves out. */
const GEMMA_SPECIAL_DEFAULTS: Partial<Record<SpecialTokenKey, string>> = {
  bos_token: '<bos>',
  eos_token: '<eos>',
  unk_token: '<unk>',
  pad_token: '<pad>',
};

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A special token: a string, or an AddedToken object {"content": ...} as older files write it; null when unset. */
function tokenString(file: string, field: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  throw new TokenizerError(`${file}: ${field} must be a string, null or {"content": string}, got ${JSON.stringify(value)}`);
}

function optionalBoolean(file: string, json: Json, key: string): boolean | null {
  const value = json[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'boolean') throw new TokenizerError(`${file}: ${key} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function parseAddedTokens(file: string, value: unknown): AddedTokenSpec[] {
  if (value === undefined || value === null) return [];
  if (!isObject(value)) throw new TokenizerError(`${file}: added_tokens_decoder must be an object of id -> token, got ${JSON.stringify(value)}`);
  const tokens: AddedTokenSpec[] = [];
  for (const [key, entry] of Object.entries(value)) {
    const field = `added_tokens_decoder["${key}"]`;
    const id = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(id)) throw new TokenizerError(`${file}: ${field}: the key must be a token id`);
    if (!isObject(entry) || typeof entry.content !== 'string') throw new TokenizerError(`${file}: ${field} must be an object with a string "content"`);
    const flag = (name: string, fallback: boolean): boolean => {
      const v = entry[name];
      if (v === undefined) return fallback;
      if (typeof v !== 'boolean') throw new TokenizerError(`${file}: ${field}.${name} must be true or false, got ${JSON.stringify(v)}`);
      return v;
    };
    const special = flag('special', false);
    tokens.push({
      id,
      content: entry.content,
      single_word: flag('single_word', false),
      lstrip: flag('lstrip', false),
      rstrip: flag('rstrip', false),
      normalized: flag('normalized', !special),
      special,
    });
  }
  return tokens.sort((a, b) => a.id - b.id);
}

/** chat_template: one string, or a list of {name, template} (Transformers' multi-template form). */
function parseChatTemplates(file: string, value: unknown): Map<string, string> {
  const templates = new Map<string, string>();
  if (value === undefined || value === null) return templates;
  if (typeof value === 'string') return templates.set('default', value);
  if (!Array.isArray(value)) throw new TokenizerError(`${file}: chat_template must be a string or a list of {"name", "template"}, got ${JSON.stringify(value).slice(0, 80)}`);
  value.forEach((entry, i) => {
    if (!isObject(entry) || typeof entry.name !== 'string' || typeof entry.template !== 'string') {
      throw new TokenizerError(`${file}: chat_template[${i}] must be {"name": string, "template": string}`);
    }
    if (templates.has(entry.name)) throw new TokenizerError(`${file}: chat_template names "${entry.name}" twice`);
    templates.set(entry.name, entry.template);
  });
  return templates;
}

/** Parses tokenizer_config.json (already JSON-decoded); `file` names it in errors. */
export function parseTokenizerConfig(json: unknown, file = 'tokenizer_config.json'): TokenizerConfig {
  if (!isObject(json)) throw new TokenizerError(`${file}: expected a JSON object, got ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}`);
  const tokenizerClass = json.tokenizer_class ?? null;
  if (tokenizerClass !== null && typeof tokenizerClass !== 'string') {
    throw new TokenizerError(`${file}: tokenizer_class must be a string, got ${JSON.stringify(tokenizerClass)}`);
  }
  const isGemma = tokenizerClass !== null && /^GemmaTokenizer(Fast)?$/.test(tokenizerClass);

  const specialTokens: Partial<Record<SpecialTokenKey, string>> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const value = key in json ? tokenString(file, key, json[key]) : isGemma ? (GEMMA_SPECIAL_DEFAULTS[key] ?? null) : null;
    if (value !== null) specialTokens[key] = value;
  }

  const additional = json.additional_special_tokens ?? [];
  if (!Array.isArray(additional)) throw new TokenizerError(`${file}: additional_special_tokens must be a list, got ${JSON.stringify(additional)}`);
  const additionalSpecialTokens = additional.map((value, i) => {
    const token = tokenString(file, `additional_special_tokens[${i}]`, value);
    if (token === null) throw new TokenizerError(`${file}: additional_special_tokens[${i}] is null`);
    return token;
  });

  let addBosToken = optionalBoolean(file, json, 'add_bos_token');
  let addEosToken = optionalBoolean(file, json, 'add_eos_token');
  if (tokenizerClass !== null && BOS_BY_DEFAULT.test(tokenizerClass)) {
    addBosToken ??= true;
    addEosToken ??= false;
  } else if (addBosToken !== null || addEosToken !== null) {
    addBosToken ??= false;
    addEosToken ??= false;
  }
  if (addBosToken && specialTokens.bos_token === undefined) throw new TokenizerError(`${file}: add_bos_token is true but bos_token is not set`);
  if (addEosToken && specialTokens.eos_token === undefined) throw new TokenizerError(`${file}: add_eos_token is true but eos_token is not set`);

  return {
    file,
    tokenizerClass,
    specialTokens,
    additionalSpecialTokens,
    addedTokens: parseAddedTokens(file, json.added_tokens_decoder),
    addBosToken,
    addEosToken,
    // Transformers' current default; the backend's own default is true. The Gemma files say false.
    cleanUpTokenizationSpaces: optionalBoolean(file, json, 'clean_up_tokenization_spaces') ?? false,
    chatTemplates: parseChatTemplates(file, json.chat_template),
    raw: json,
  };
}
