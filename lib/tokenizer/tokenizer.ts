// HfTokenizer: a Hugging Face tokenizer folder (tokenizer.json plus the
// optional tokenizer_config.json and chat_template.jinja; a path on Node or
// any ModelFolder, lib/io/model-folder.ts) read with @huggingface/tokenizers,
// made to behave as Transformers' fast tokenizer:
//
//  - <bos>/<eos>: GemmaTokenizerFast rebuilds tokenizer.json's post-processor
//    from add_bos_token / add_eos_token (config.ts says when); encode does the
//    same, so encode("Hello") is [2, 4521] for Gemma, and addSpecialTokens:
//    false gives the bare text ids;
//  - special tokens the config names are registered as unsplittable added
//    tokens (added-tokens.ts), so "<start_of_turn>" is one token;
//  - byte-fallback runs decode as in Rust (byte-fallback.ts);
//  - clean_up_tokenization_spaces defaults to false, not the backend's true;
//  - decode([]) is "" (the backend throws), and ids outside the vocabulary and
//    lone surrogates in text are errors that name them (the backend would
//    decode an unknown id as <unk> and encode a lone surrogate as U+FFFD).

import { Tokenizer as Backend } from '@huggingface/tokenizers';
import type { Template } from '@huggingface/jinja';
import { parseTokenizerConfig, SPECIAL_TOKEN_KEYS, type TokenizerConfig } from './config.ts';
import { mergeAddedTokens, modelVocabLookup, readAddedTokens } from './added-tokens.ts';
import { withRustByteFallback } from './byte-fallback.ts';
import { type ChatMessage, checkMessages, compileChatTemplate, renderChatTemplate, selectChatTemplate } from './chat-template.ts';
import { TokenizerError } from './errors.ts';
import { IoError } from '../io/byte-source.ts';
import type { ModelFolder } from '../io/model-folder.ts';
import { openModelFolder } from '../io/open-folder.ts';

export type { ChatMessage } from './chat-template.ts';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
/** Newer Transformers save the chat template here; it replaces any in tokenizer_config.json. */
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

export interface EncodeOptions {
  /** Add <bos> (and <eos> where the tokenizer adds it), as tokenizer(text) does. Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (<bos>, <eos>, <pad>, the turn markers, ...). Default false. */
  skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  /** End with the opening of the model's turn ("<start_of_turn>model\n" for Gemma). Default false. */
  addGenerationPrompt?: boolean;
  /** Return token ids (default, as in Transformers) or, when false, the rendered text. */
  tokenize?: boolean;
  /** Which template, when tokenizer_config.json has several; default "default". */
  templateName?: string;
  /** Further template variables (Transformers' **kwargs), e.g. date_string. */
  variables?: Record<string, unknown>;
}

export interface FromJsonNames {
  /** How errors name tokenizer.json and tokenizer_config.json (default: those names). */
  tokenizerFile?: string;
  configFile?: string;
}

type Json = Record<string, unknown>;

/** Runs `run`, turning a file's IoError into the TokenizerError with the same message. */
function asTokenizerError<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof IoError) throw new TokenizerError(error.message);
    throw error;
  }
}

function readJsonFile(folder: ModelFolder, file: string): unknown {
  const text = asTokenizerError(() => folder.readText(file));
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TokenizerError(`${folder.describe(file)}: invalid JSON (${(error as Error).message})`);
  }
}

/** The first lone surrogate in text, which is not Unicode and has no UTF-8 encoding. */
function loneSurrogate(text: string): number {
  return text.search(/\p{Cs}/u);
}

export class HfTokenizer {
  /** The folder (or tokenizer.json name) errors mention. */
  readonly source: string;
  readonly config: TokenizerConfig;
  /** Ids run from 0 to vocabSize - 1 (added tokens included). */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  /** Gemma's chat-turn markers, when the vocabulary has them; generation of a chat turn stops at <end_of_turn>. */
  readonly startOfTurnId: number | null;
  readonly endOfTurnId: number | null;
  private readonly backend: Backend;
  private readonly specialIds: ReadonlySet<number>;
  /** Ids of "<0xNN>" tokens, when the decoder has a ByteFallback step. */
  private readonly byteIds: ReadonlySet<number>;
  private readonly templates = new Map<string, Template>();

  private constructor(backend: Backend, config: TokenizerConfig, specialIds: Set<number>, hasByteFallback: boolean, source: string) {
    this.backend = backend;
    this.config = config;
    this.source = source;
    this.specialIds = specialIds;
    this.vocabSize = backend.model?.vocab.length ?? 0;
    const id = (token: string | undefined) => (token === undefined ? null : this.tokenToId(token));
    this.bosTokenId = id(config.specialTokens.bos_token);
    this.eosTokenId = id(config.specialTokens.eos_token);
    this.padTokenId = id(config.specialTokens.pad_token);
    this.unkTokenId = id(config.specialTokens.unk_token);
    this.startOfTurnId = id('<start_of_turn>');
    this.endOfTurnId = id('<end_of_turn>');
    const byteIds = new Set<number>();
    if (hasByteFallback) {
      // The decoder reads the hex digits in either case; vocabularies write them in upper case.
      for (let b = 0; b < 256; b++) {
        const hex = b.toString(16).padStart(2, '0');
        for (const token of [`<0x${hex.toUpperCase()}>`, `<0x${hex}>`]) {
          const byteId = this.tokenToId(token);
          if (byteId !== null) byteIds.add(byteId);
        }
      }
    }
    this.byteIds = byteIds;
  }

  /**
   * Reads a Hugging Face model folder (a path on Node, or a ModelFolder such
   * as a MemoryModelFolder): tokenizer.json (required), tokenizer_config.json
   * and chat_template.jinja (optional).
   */
  static fromPretrained(source: string | ModelFolder): HfTokenizer {
    const folder = asTokenizerError(() => openModelFolder(source));
    if (!folder.has(TOKENIZER_FILE)) {
      throw new TokenizerError(
        `${folder.name} has no ${TOKENIZER_FILE}, so there is no tokenizer to turn text into token ids; ` +
          `\`gemma2 generate --ids\` takes token ids directly and works without one`,
      );
    }
    const configFile = folder.describe(TOKENIZER_CONFIG_FILE);
    const config = parseTokenizerConfig(folder.has(TOKENIZER_CONFIG_FILE) ? readJsonFile(folder, TOKENIZER_CONFIG_FILE) : {}, configFile);
    if (folder.has(CHAT_TEMPLATE_FILE)) config.chatTemplates = new Map([['default', asTokenizerError(() => folder.readText(CHAT_TEMPLATE_FILE))]]);
    return HfTokenizer.build(readJsonFile(folder, TOKENIZER_FILE), config, folder.describe(TOKENIZER_FILE), folder.name);
  }

  /** From the parsed JSON of tokenizer.json and (optionally) tokenizer_config.json. */
  static fromJson(tokenizerJson: unknown, configJson: unknown = {}, names: FromJsonNames = {}): HfTokenizer {
    const tokenizerFile = names.tokenizerFile ?? TOKENIZER_FILE;
    const config = parseTokenizerConfig(configJson, names.configFile ?? TOKENIZER_CONFIG_FILE);
    return HfTokenizer.build(tokenizerJson, config, tokenizerFile, tokenizerFile);
  }

  private static build(tokenizerJson: unknown, config: TokenizerConfig, tokenizerFile: string, source: string): HfTokenizer {
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || Array.isArray(tokenizerJson)) {
      throw new TokenizerError(`${tokenizerFile}: expected a JSON object`);
    }
    const json = tokenizerJson as Json;
    const model = json.model;
    if (typeof model !== 'object' || model === null || Array.isArray(model)) throw new TokenizerError(`${tokenizerFile}: no "model" object (is this a tokenizers tokenizer.json?)`);
    const addedTokens = mergeAddedTokens(readAddedTokens(json.added_tokens, tokenizerFile), modelVocabLookup(model as Json), config, tokenizerFile);
    // Components serde leaves out when unset are null to the backend; the caller's object is not modified.
    const backendJson = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json, added_tokens: addedTokens };
    const backendConfig = {
      ...config.raw,
      ...config.specialTokens,
      additional_special_tokens: config.additionalSpecialTokens,
      clean_up_tokenization_spaces: config.cleanUpTokenizationSpaces,
    };
    let backend: Backend;
    try {
      backend = new Backend(backendJson, backendConfig);
    } catch (error) {
      throw new TokenizerError(`${tokenizerFile}: @huggingface/tokenizers cannot load it: ${(error as Error).message}`);
    }
    const { decoder, hasByteFallback } = withRustByteFallback(backend.decoder);
    backend.decoder = decoder;
    // What the backend's skip_special_tokens leaves out: special added tokens, and additional_special_tokens by content.
    const specialIds = new Set(addedTokens.filter((t) => t.special).map((t) => t.id));
    for (const token of config.additionalSpecialTokens) {
      const id = backend.token_to_id(token);
      if (id !== undefined) specialIds.add(id);
    }
    return new HfTokenizer(backend, config, specialIds, hasByteFallback, source);
  }

  /** Token ids of text; with addSpecialTokens (default) <bos> first, as tokenizer(text)["input_ids"]. */
  encode(text: string, { addSpecialTokens = true }: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`encode: text must be a string, got ${typeof text}`);
    const at = loneSurrogate(text);
    if (at >= 0) {
      const unit = text.charCodeAt(at).toString(16).toUpperCase();
      throw new TokenizerError(`encode: text has a lone surrogate (U+${unit}) at index ${at}; it is not Unicode and has no UTF-8 bytes`);
    }
    const { addBosToken, addEosToken } = this.config;
    const byConfig = addBosToken !== null || addEosToken !== null;
    const encoding = this.backend.encode(text, { add_special_tokens: addSpecialTokens && !byConfig });
    const ids = encoding.ids;
    const missing = ids.findIndex((id) => typeof id !== 'number');
    if (missing >= 0) throw new TokenizerError(`encode: ${this.source} has no id for the piece ${JSON.stringify(encoding.tokens[missing])} and no unk_token to stand for it`);
    if (!addSpecialTokens || !byConfig) return ids;
    return [...(addBosToken ? [this.bosTokenId!] : []), ...ids, ...(addEosToken ? [this.eosTokenId!] : [])];
  }

  /** The text of token ids, as tokenizer.decode(ids) (clean_up_tokenization_spaces as the config says). */
  decode(ids: readonly number[], { skipSpecialTokens = false }: DecodeOptions = {}): string {
    if (!Array.isArray(ids)) throw new TokenizerError(`decode: ids must be a list of token ids, got ${typeof ids}`);
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.backend.id_to_token(id) === undefined) {
        throw new TokenizerError(`decode: ids[${i}] = ${id} is not a token id of ${this.source} (vocabulary of ${this.vocabSize})`);
      }
    });
    if (ids.length === 0) return '';
    return this.backend.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  /** The id of a token string (as in the vocabulary: "▁world", "<0xF0>"), or null. */
  tokenToId(token: string): number | null {
    return this.backend.token_to_id(token) ?? null;
  }

  /** The token string of an id, or null when the vocabulary has no such id. */
  idToToken(id: number): string | null {
    if (!Number.isInteger(id) || id < 0) return null;
    return this.backend.id_to_token(id) ?? null;
  }

  /** Whether decode({skipSpecialTokens: true}) leaves this id out. */
  isSpecialId(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Whether this id is a byte-fallback token ("<0xNN>") that decodes together with its neighbours. */
  isByteToken(id: number): boolean {
    return this.byteIds.has(id);
  }

  /** The special-token strings the chat template sees (Transformers' special_tokens_map). */
  specialTokensMap(): Record<string, string | string[]> {
    const map: Record<string, string | string[]> = {};
    for (const key of SPECIAL_TOKEN_KEYS) {
      const token = this.config.specialTokens[key];
      if (token !== undefined) map[key] = token;
    }
    if (this.config.additionalSpecialTokens.length > 0) map.additional_special_tokens = [...this.config.additionalSpecialTokens];
    return map;
  }

  /**
   * Renders messages with the folder's chat template and, unless tokenize is
   * false, encodes the text WITHOUT adding another <bos>: the template writes
   * {{ bos_token }} itself, and Transformers' apply_chat_template(tokenize=True)
   * encodes with add_special_tokens=False.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions & { tokenize: false }): string;
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions & { tokenize?: true }): number[];
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string | number[];
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string | number[] {
    const { addGenerationPrompt = false, tokenize = true, templateName, variables = {} } = options;
    checkMessages(messages);
    const { name, text } = selectChatTemplate(this.config.chatTemplates, templateName, this.source);
    let template = this.templates.get(name);
    if (template === undefined) {
      template = compileChatTemplate(text, name, this.source);
      this.templates.set(name, template);
    }
    const rendered = renderChatTemplate(template, name, this.source, {
      ...this.specialTokensMap(),
      ...variables,
      messages,
      add_generation_prompt: addGenerationPrompt,
    });
    return tokenize ? this.encode(rendered, { addSpecialTokens: false }) : rendered;
  }
}
