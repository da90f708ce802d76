// Training examples from a JSONL file, in the formats TRL's SFTTrainer takes,
// each tokenized with the labels its loss counts:
//   {"text": "..."}                       language modelling: <bos> text <eos>,
//                                          every token counted
//   {"prompt": "...", "completion": "..."} prompt then completion, <eos> appended
//                                          (TRL appends eos_token to a text or
//                                          completion that does not end with
//                                          it); by default only the
//                                          completion and its <eos> are counted
//   {"prompt": [messages], "completion": [messages]}, the conversational
//                                          form: rendered with the chat template,
//                                          the loss on the completion's turns
//   {"messages": [{"role", "content"}, ...]} rendered with the tokenizer's chat
//                                          template (no <eos> added, as TRL adds
//                                          none to conversations); by default only
//                                          the assistant turns are counted; also
//                                          ShareGPT's {"conversations": [{"from",
//                                          "value"}, ...]} (roles human, gpt, system)
// The format is found from each line's fields; one file holds one format.
// Other fields are ignored (as the datasets' extra columns are).
//
// Prompt-completion follows TRL's tokenize_fn: prompt_ids = tok(prompt),
// ids = tok(prompt + completion) + eos, completion_mask = 0 on the first
// len(prompt_ids) tokens and 1 after. Where tok(prompt) is not a prefix of
// tok(prompt + completion) (a merge across the join) TRL warns and keeps the
// boundary at len(prompt_ids); so do we, and the count goes into the notes.
//
// Messages: the assistant turns are found by rendering the conversation turn
// by turn, as TRL finds the completion of a conversational prompt-completion
// example: an assistant message i spans from the end of
// render(messages[:i], add_generation_prompt=True) to the end of
// render(messages[:i+1]). So the span holds what the model must produce: the
// content and the template's end of turn ("...<end_of_turn>\n" for Gemma), not
// the "<start_of_turn>model\n" the prompt already ends with. We chose this over
// TRL's assistant_only_loss, which needs {% generation %} markers in the
// template (Gemma's has none), and over DataCollatorForCompletionOnlyLM's
// search for a response-template token sequence, which needs that sequence
// spelled out per model and can match inside a message. Rendering turn by turn
// works for any template whose rendering of the first messages is a prefix of
// its rendering of all of them; one that is not is refused, by line.

import { DataError, IGNORE_INDEX } from './data-error.ts';
import type { ChatMessage } from '../tokenizer/chat-template.ts';

export type ExampleFormat = 'text' | 'prompt-completion' | 'messages';

/** The roles a message may have. */
export const MESSAGE_ROLES: readonly string[] = ['system', 'user', 'assistant'];

/** What the JSONL reader needs of a tokenizer (HfTokenizer has it). */
export interface TextTokenizer {
  /** Ids of a text, <bos> first where the tokenizer adds it (addSpecialTokens, default true). */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
}

/** A tokenizer with a chat template, for {"messages"} examples and conversational prompts. */
export interface ChatTokenizer extends TextTokenizer {
  applyChatTemplate(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean; tokenize: false }): string;
}

/** One example's tokens and labels (the token where the loss counts it, else IGNORE_INDEX). */
export interface Example {
  /** 1-based line of the JSONL file. */
  line: number;
  ids: number[];
  labels: number[];
}

export interface ExampleOptions {
  /** Count the loss on completions and assistant turns only (default true); false: on every token. */
  completionOnlyLoss?: boolean;
  /** Ids must lie in [0, vocabSize). */
  vocabSize?: number;
}

export interface Examples {
  format: ExampleFormat;
  examples: Example[];
  /** Facts worth telling the user. */
  notes: string[];
}

interface JsonlRecord {
  line: number;
  fields: Record<string, unknown>;
  format: ExampleFormat;
}

const FORMATS_IN_WORDS = '{"text"}, {"prompt", "completion"} or {"messages"}';

/** Which format a line's fields say it is in. */
function formatOf(fields: Record<string, unknown>, where: string): ExampleFormat {
  const found: ExampleFormat[] = [];
  if ('text' in fields) found.push('text');
  if ('prompt' in fields || 'completion' in fields) found.push('prompt-completion');
  if ('messages' in fields || 'conversations' in fields) found.push('messages');
  if (found.length === 0) {
    const names = Object.keys(fields).map((k) => JSON.stringify(k)).join(', ');
    throw new DataError(`${where}: no "text", "prompt"/"completion" or "messages" field (the object has ${names || 'no fields'})`);
  }
  if (found.length > 1) throw new DataError(`${where}: the object has the fields of two formats (${found.join(' and ')}); give one of ${FORMATS_IN_WORDS}`);
  return found[0];
}

/** The lines of a JSONL file as objects with their format; blank lines are skipped; every line must be in the first line's format. */
export function readJsonlRecords(file: string, text: string): JsonlRecord[] {
  const records: JsonlRecord[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.trim() === '') return;
    const line = index + 1;
    const where = `${file}:${line}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new DataError(`${where}: not JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DataError(`${where}: expected an object ${FORMATS_IN_WORDS}, found ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
    }
    const fields = value as Record<string, unknown>;
    const format = formatOf(fields, where);
    if (records.length > 0 && format !== records[0].format) {
      throw new DataError(`${where}: a ${format} example, but line ${records[0].line} is a ${records[0].format} example; one file holds one format`);
    }
    records.push({ line, fields, format });
  });
  if (records.length === 0) throw new DataError(`${file}: no examples (the file is empty or has only blank lines)`);
  return records;
}

function stringField(fields: Record<string, unknown>, name: string, where: string): string {
  const value = fields[name];
  if (value === undefined) throw new DataError(`${where}: no "${name}" field`);
  if (typeof value !== 'string') throw new DataError(`${where}: "${name}" is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}, expected a string`);
  return value;
}

function checkMessages(value: unknown, field: string, where: string): ChatMessage[] {
  if (!Array.isArray(value)) throw new DataError(`${where}: "${field}" must be a list of {"role", "content"}, found ${value === null ? 'null' : typeof value}`);
  if (value.length === 0) throw new DataError(`${where}: "${field}" is empty`);
  return value.map((message: unknown, i) => {
    const at = `${where}: ${field}[${i}]`;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) throw new DataError(`${at} must be an object {"role", "content"}`);
    const { role, content } = message as Record<string, unknown>;
    if (role === undefined) throw new DataError(`${at} has no "role"`);
    if (typeof role !== 'string' || !MESSAGE_ROLES.includes(role)) {
      throw new DataError(`${at}: role ${JSON.stringify(role)} is not one of ${MESSAGE_ROLES.map((r) => JSON.stringify(r)).join(', ')}`);
    }
    if (content === undefined) throw new DataError(`${at} has no "content"`);
    if (typeof content !== 'string') throw new DataError(`${at}: "content" is ${content === null ? 'null' : typeof content}, expected a string`);
    return message as ChatMessage;
  });
}

/** The ids with <eos> last: appended unless the text already ends with it (TRL appends eos_token unless the text ends with it). */
const withEos = (ids: number[], eos: number) => (ids[ids.length - 1] === eos ? ids : [...ids, eos]);

const startsWith = (ids: readonly number[], prefix: readonly number[]) => prefix.length <= ids.length && prefix.every((id, k) => ids[k] === id);

/** Labels: the ids inside [begin, end) spans, IGNORE_INDEX elsewhere. */
function labelsInside(ids: readonly number[], spans: readonly [number, number][]): number[] {
  const labels = new Array<number>(ids.length).fill(IGNORE_INDEX);
  for (const [begin, end] of spans) for (let t = begin; t < Math.min(end, ids.length); t++) labels[t] = ids[t];
  return labels;
}

interface Tokenized {
  ids: number[];
  /** Where the loss counts, [begin, end) token spans. */
  spans: [number, number][];
  /** Whether a span's start is not where the prompt's tokens end (a merge across the join). */
  mismatched: boolean;
}

function tokenizePromptCompletion(fields: Record<string, unknown>, tokenizer: TextTokenizer | ChatTokenizer, eos: number, where: string): Tokenized {
  if (Array.isArray(fields.prompt)) return tokenizeConversationalPromptCompletion(fields, tokenizer, where);
  const prompt = stringField(fields, 'prompt', where);
  const completion = stringField(fields, 'completion', where);
  if (completion === '') throw new DataError(`${where}: "completion" is empty (there is nothing to learn)`);
  const promptIds = tokenizer.encode(prompt);
  const ids = withEos(tokenizer.encode(prompt + completion), eos);
  return { ids, spans: [[promptIds.length, ids.length]], mismatched: !startsWith(ids, promptIds) };
}

/**
 * {"prompt": [messages], "completion": [messages]}, TRL's conversational
 * prompt-completion: ids = tok(render(prompt + completion)), the loss from the
 * end of tok(render(prompt, add_generation_prompt=True)); no <eos> added.
 */
function tokenizeConversationalPromptCompletion(fields: Record<string, unknown>, tokenizer: TextTokenizer | ChatTokenizer, where: string): Tokenized {
  if (!('applyChatTemplate' in tokenizer)) throw new DataError(`${where}: a conversational prompt needs a tokenizer with a chat template`);
  const prompt = checkMessages(fields.prompt, 'prompt', where);
  if (fields.completion === undefined) throw new DataError(`${where}: no "completion" field`);
  const completion = checkMessages(fields.completion, 'completion', where);
  const render = (messages: ChatMessage[], addGenerationPrompt: boolean) => tokenizer.applyChatTemplate(messages, { addGenerationPrompt, tokenize: false });
  const before = render(prompt, true);
  const text = render([...prompt, ...completion], false);
  if (!text.startsWith(before)) {
    throw new DataError(`${where}: the chat template does not render the prompt as the start of the whole conversation, so the completion cannot be found; train on every token instead (completionOnlyLoss false)`);
  }
  const encode = (t: string) => tokenizer.encode(t, { addSpecialTokens: false });
  const ids = encode(text);
  const promptIds = encode(before);
  return { ids, spans: [[promptIds.length, ids.length]], mismatched: !startsWith(ids, promptIds) };
}

/** ShareGPT's role names, and the names of the three roles themselves. */
const SHAREGPT_ROLES: Record<string, string> = { human: 'user', gpt: 'assistant', system: 'system', user: 'user', assistant: 'assistant' };

/**
 * ShareGPT's {"conversations": [{"from", "value"}, ...]} as messages: TRL's
 * maybe_convert_to_chatml renames from/value to role/content and conversations
 * to messages; we also map ShareGPT's roles human and gpt to user and
 * assistant, which TRL leaves to the chat template (where they usually fail).
 */
function sharegptMessages(value: unknown, where: string): unknown {
  if (!Array.isArray(value)) return value; // checkMessages names the problem
  return value.map((turn: unknown) => {
    if (typeof turn !== 'object' || turn === null || !('from' in turn)) return turn;
    const { from, value: content, ...rest } = turn as Record<string, unknown>;
    const role = typeof from === 'string' ? (SHAREGPT_ROLES[from] ?? from) : from;
    if (content === undefined && !('content' in rest)) throw new DataError(`${where}: a conversations turn from ${JSON.stringify(from)} has no "value"`);
    return { role, content: content ?? rest.content, ...rest };
  });
}

function tokenizeMessages(fields: Record<string, unknown>, tokenizer: ChatTokenizer, where: string): Tokenized {
  if ('messages' in fields && 'conversations' in fields) throw new DataError(`${where}: the object has both "messages" and "conversations"; give one`);
  const field = 'messages' in fields ? 'messages' : 'conversations';
  const messages = checkMessages(field === 'messages' ? fields.messages : sharegptMessages(fields.conversations, where), field, where);
  const render = (upTo: number, addGenerationPrompt: boolean) => tokenizer.applyChatTemplate(messages.slice(0, upTo), { addGenerationPrompt, tokenize: false });
  const text = render(messages.length, false);
  const encode = (t: string) => tokenizer.encode(t, { addSpecialTokens: false });
  const ids = encode(text);
  const spans: [number, number][] = [];
  let mismatched = false;
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return;
    const before = render(i, true);
    const through = render(i + 1, false);
    if (!text.startsWith(before) || !text.startsWith(through)) {
      throw new DataError(
        `${where}: the chat template does not render this conversation turn by turn (the rendering of messages[0..${i}] is not the start of the whole), so its assistant turns cannot be found; train on every token instead (completionOnlyLoss false)`,
      );
    }
    const beforeIds = encode(before);
    const throughIds = encode(through);
    if (!startsWith(ids, beforeIds) || !startsWith(ids, throughIds)) mismatched = true;
    spans.push([beforeIds.length, throughIds.length]);
  });
  return { ids, spans, mismatched };
}

/** Tokenizes every line of a JSONL file's text into an example with its labels. */
export function tokenizeJsonl(file: string, text: string, tokenizer: TextTokenizer | ChatTokenizer, options: ExampleOptions = {}): Examples {
  const completionOnlyLoss = options.completionOnlyLoss ?? true;
  const records = readJsonlRecords(file, text);
  const format = records[0].format;
  const eos = tokenizer.eosTokenId;
  if (format !== 'messages' && eos === null) throw new DataError(`${file}: the tokenizer has no eos token to end each example with`);
  if (format === 'messages' && !('applyChatTemplate' in tokenizer)) throw new DataError(`${file}: {"messages"} examples need a tokenizer with a chat template`);
  let mismatches = 0;
  const examples = records.map(({ line, fields }): Example => {
    const where = `${file}:${line}`;
    let tokenized: Tokenized;
    try {
      if (format === 'text') {
        const ids = withEos(tokenizer.encode(stringField(fields, 'text', where)), eos!);
        tokenized = { ids, spans: [[0, ids.length]], mismatched: false };
      } else if (format === 'prompt-completion') {
        tokenized = tokenizePromptCompletion(fields, tokenizer, eos!, where);
      } else {
        tokenized = tokenizeMessages(fields, tokenizer as ChatTokenizer, where);
        if (completionOnlyLoss && tokenized.spans.length === 0) {
          throw new DataError(`${where}: the conversation has no assistant turn, so nothing of it is learned; add one, or train on every token (completionOnlyLoss false)`);
        }
      }
    } catch (error) {
      if (error instanceof DataError) throw error;
      throw new DataError(`${where}: ${(error as Error).message}`);
    }
    const { ids, spans } = tokenized;
    if (tokenized.mismatched) mismatches++;
    ids.forEach((id, k) => {
      if (options.vocabSize !== undefined && (id < 0 || id >= options.vocabSize)) {
        throw new DataError(`${where}, token ${k} of the example: token id ${id} is outside the model's vocabulary [0, ${options.vocabSize}) (the tokenizer does not fit the model?)`);
      }
    });
    return { line, ids, labels: completionOnlyLoss ? labelsInside(ids, spans) : ids.slice() };
  });
  const notes: string[] = [];
  if (format !== 'text') notes.push(`${format} examples, loss on ${completionOnlyLoss ? (format === 'messages' ? 'the assistant turns only' : 'the completions only') : 'every token'}`);
  if (mismatches > 0) {
    notes.push(`in ${mismatches} of ${examples.length} examples the prompt's tokens are not the start of the whole example's tokens (a merge across the join); the loss starts after as many tokens as the prompt has, as TRL does`);
  }
  return { format, examples, notes };
}
