// Chat and instruction data: the three JSONL formats tokenized as TRL's
// SFTTrainer tokenizes them, with the labels of completion-only loss (and of
// the switch to every token), packing (best-fit decreasing, per-example
// position ids, no label on an example's first token) and padding, the cut
// to seqLen, and the errors that name the file, line and field. Exact arrays
// on the tiny fixture tokenizer (its chat template is Gemma-2's).

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { type Dataset, DataError, jsonlDataset, makeBatch } from '../../lib/train/data.ts';
import { tokenizeJsonl } from '../../lib/train/jsonl-examples.ts';
import { bestFitDecreasing, packExamples } from '../../lib/train/packing.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('sft-data');
let fileCount = 0;
function jsonl(...lines: unknown[]): string {
  const name = path.join(dir, `f${fileCount++}.jsonl`);
  fs.writeFileSync(name, lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n'));
  return name;
}

const tokenizer = HfTokenizer.fromPretrained(FIXTURE_DIR);
const X = -100;
const rowsOf = (data: Dataset, values: Int32Array | null) => Array.from({ length: data.rows }, (_, r) => [...values!.subarray(r * data.seqLen, (r + 1) * data.seqLen)]);

// The fixture's ids: <pad> 0, <eos> 1, <bos> 2, <start_of_turn> 4, <end_of_turn> 5, "\n" 6,
// "2" 27, "+" 20, "3" 28, "=" 38, "5" 30, "a" 74, "b" 75, "o" 88, "k" 84, "Hi" 248, "user" 243, "model" 247.
const SUM = { prompt: '2+3=', completion: '5' };
const SUM_IDS = [2, 27, 20, 28, 38, 30, 1]; // <bos> 2+3= 5 <eos>
const CHAT = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'ok' },
  { role: 'user', content: 'a' },
  { role: 'assistant', content: 'b' },
];
// <bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nok<end_of_turn>\n<start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\nb<end_of_turn>\n
const CHAT_IDS = [2, 4, 243, 6, 248, 5, 6, 4, 247, 6, 88, 84, 5, 6, 4, 243, 6, 74, 5, 6, 4, 247, 6, 75, 5, 6];

describe('prompt-completion', () => {
  test('tokenized as TRL does: tok(prompt + completion) + <eos>, the loss on the completion and <eos> only', () => {
    const { format, examples, notes } = tokenizeJsonl('f', JSON.stringify(SUM), tokenizer);
    expect(format).toBe('prompt-completion');
    expect(examples).toEqual([{ line: 1, ids: SUM_IDS, labels: [X, X, X, X, X, 30, 1] }]);
    expect(notes).toEqual(['prompt-completion examples, loss on the completions only']);
  });

  test('a completion (or text) that already ends with <eos> gets no second one, as TRL appends eos_token only when missing', () => {
    const { examples } = tokenizeJsonl('f', JSON.stringify({ prompt: '2+3=', completion: '5<eos>' }), tokenizer);
    expect(examples[0].ids).toEqual(SUM_IDS);
    expect(tokenizeJsonl('f', '{"text": "a<eos>"}', tokenizer).examples[0].ids).toEqual([2, 74, 1]);
  });

  test('completionOnlyLoss false: every token is a label', () => {
    const { examples, notes } = tokenizeJsonl('f', JSON.stringify(SUM), tokenizer, { completionOnlyLoss: false });
    expect(examples[0].labels).toEqual(SUM_IDS);
    expect(notes).toEqual(['prompt-completion examples, loss on every token']);
  });

  test("a merge across the join (\"Hel\" + \"lo\" is the fixture's \"Hello\") keeps the boundary at the prompt's length, as TRL does, and says so", () => {
    const { examples, notes } = tokenizeJsonl('f', JSON.stringify({ prompt: 'Hel', completion: 'lo' }), tokenizer);
    expect(examples[0].ids).toEqual([2, 235, 1]); // <bos> Hello <eos>
    expect(tokenizer.encode('Hel')).toEqual([2, 234, 85]); // <bos> He l
    expect(examples[0].labels).toEqual([X, X, X]); // the boundary (3 tokens) is the whole example: TRL would learn nothing here either
    expect(notes[1]).toBe(
      "in 1 of 1 examples the prompt's tokens are not the start of the whole example's tokens (a merge across the join); the loss starts after as many tokens as the prompt has, as TRL does",
    );
  });
});

describe('conversational prompt-completion', () => {
  test('prompt and completion as messages: rendered together, the loss from the end of the prompt with the generation prompt', () => {
    const line = { prompt: CHAT.slice(0, 1), completion: CHAT.slice(1, 2) };
    const { format, examples } = tokenizeJsonl('f', JSON.stringify(line), tokenizer);
    expect(format).toBe('prompt-completion');
    expect(examples[0].ids).toEqual(CHAT_IDS.slice(0, 14)); // no <eos> added to a conversation
    expect(examples[0].labels).toEqual([X, X, X, X, X, X, X, X, X, X, 88, 84, 5, 6]);
  });

  test('errors name the field and the message', () => {
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ prompt: CHAT.slice(0, 1), completion: 'ok' }), tokenizer)).toThrow(
      new DataError('d.jsonl:1: "completion" must be a list of {"role", "content"}, found string'),
    );
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ prompt: CHAT.slice(0, 1), completion: [{ role: 'bot', content: 'ok' }] }), tokenizer)).toThrow(
      new DataError('d.jsonl:1: completion[0]: role "bot" is not one of "system", "user", "assistant"'),
    );
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ prompt: CHAT.slice(0, 1) }), tokenizer)).toThrow(new DataError('d.jsonl:1: no "completion" field'));
  });
});

describe('messages', () => {
  test("rendered with the chat template; the loss on each assistant turn's content and end of turn only", () => {
    const { format, examples } = tokenizeJsonl('f', JSON.stringify({ messages: CHAT }), tokenizer);
    expect(format).toBe('messages');
    expect(examples[0].ids).toEqual(CHAT_IDS);
    expect(examples[0].ids).toEqual(tokenizer.applyChatTemplate(CHAT));
    const labels = CHAT_IDS.map(() => X);
    for (const t of [10, 11, 12, 13, 23, 24, 25]) labels[t] = CHAT_IDS[t]; // "ok<end_of_turn>\n", "b<end_of_turn>\n"
    expect(examples[0].labels).toEqual(labels);
  });

  test('ShareGPT conversations ({"from", "value"}, roles human and gpt) are messages', () => {
    const conversations = CHAT.map(({ role, content }) => ({ from: role === 'user' ? 'human' : 'gpt', value: content }));
    const sharegpt = tokenizeJsonl('f', JSON.stringify({ conversations }), tokenizer);
    expect(sharegpt.format).toBe('messages');
    expect(sharegpt.examples[0]).toEqual(tokenizeJsonl('f', JSON.stringify({ messages: CHAT }), tokenizer).examples[0]);
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ conversations: [{ from: 'human' }] }), tokenizer)).toThrow(new DataError('d.jsonl:1: a conversations turn from "human" has no "value"'));
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ conversations: [{ from: 'bot', value: 'x' }] }), tokenizer)).toThrow(
      new DataError('d.jsonl:1: conversations[0]: role "bot" is not one of "system", "user", "assistant"'),
    );
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ conversations: [], messages: CHAT }), tokenizer)).toThrow(new DataError('d.jsonl:1: the object has both "messages" and "conversations"; give one'));
  });

  test('completionOnlyLoss false: every token, and a conversation without an assistant turn is then accepted', () => {
    const { examples } = tokenizeJsonl('f', JSON.stringify({ messages: CHAT }), tokenizer, { completionOnlyLoss: false });
    expect(examples[0].labels).toEqual(CHAT_IDS);
    const userOnly = tokenizeJsonl('f', JSON.stringify({ messages: CHAT.slice(0, 1) }), tokenizer, { completionOnlyLoss: false });
    expect(userOnly.examples[0].labels).toEqual([2, 4, 243, 6, 248, 5, 6]);
  });

  test('errors name the line and the message: roles, fields, no assistant turn, the template raising', () => {
    const at = (messages: unknown) => () => tokenizeJsonl('d.jsonl', JSON.stringify({ messages }), tokenizer);
    expect(at([{ role: 'human', content: 'Hi' }])).toThrow(new DataError('d.jsonl:1: messages[0]: role "human" is not one of "system", "user", "assistant"'));
    expect(at([{ content: 'Hi' }])).toThrow(new DataError('d.jsonl:1: messages[0] has no "role"'));
    expect(at([{ role: 'user', content: 'Hi' }, { role: 'assistant' }])).toThrow(new DataError('d.jsonl:1: messages[1] has no "content"'));
    expect(at([{ role: 'user', content: 3 }])).toThrow(new DataError('d.jsonl:1: messages[0]: "content" is number, expected a string'));
    expect(at([])).toThrow(new DataError('d.jsonl:1: "messages" is empty'));
    expect(at('Hi')).toThrow(new DataError('d.jsonl:1: "messages" must be a list of {"role", "content"}, found string'));
    expect(at(['Hi'])).toThrow(new DataError('d.jsonl:1: messages[0] must be an object {"role", "content"}'));
    expect(at(CHAT.slice(0, 1))).toThrow(
      new DataError('d.jsonl:1: the conversation has no assistant turn, so nothing of it is learned; add one, or train on every token (completionOnlyLoss false)'),
    );
    // Gemma-2's template refuses a system turn: its own message, with the line
    expect(at([{ role: 'system', content: 'S' }, ...CHAT])).toThrow(/^d\.jsonl:1: .*chat template "default" raised: System role not supported/);
  });

  test('a template that does not render turn by turn is refused, naming the line', () => {
    // this template writes the number of messages first, so the first i messages are not a prefix of all of them
    const counting = { ...tokenizer, encode: tokenizer.encode.bind(tokenizer), applyChatTemplate: (m: readonly unknown[]) => `${m.length}:${tokenizer.applyChatTemplate(m as typeof CHAT, { tokenize: false })}` };
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ messages: CHAT }), counting)).toThrow(
      new DataError(
        'd.jsonl:1: the chat template does not render this conversation turn by turn (the rendering of messages[0..1] is not the start of the whole), so its assistant turns cannot be found; train on every token instead (completionOnlyLoss false)',
      ),
    );
    expect(() => tokenizeJsonl('d.jsonl', JSON.stringify({ prompt: CHAT.slice(0, 1), completion: CHAT.slice(1, 2) }), counting)).toThrow(
      new DataError(
        'd.jsonl:1: the chat template does not render the prompt as the start of the whole conversation, so the completion cannot be found; train on every token instead (completionOnlyLoss false)',
      ),
    );
  });
});

describe('format detection and errors', () => {
  test('one file holds one format: mixing is an error naming both lines', () => {
    const mixed = jsonl({ text: 'Hi' }, '', SUM);
    expect(() => jsonlDataset(mixed, tokenizer, { seqLen: 8 })).toThrow(new DataError(`${mixed}:3: a prompt-completion example, but line 1 is a text example; one file holds one format`));
  });

  test('missing and wrong fields', () => {
    const f = 'd.jsonl';
    expect(() => tokenizeJsonl(f, '{"prompt": "a"}', tokenizer)).toThrow(new DataError('d.jsonl:1: no "completion" field'));
    expect(() => tokenizeJsonl(f, '{"completion": "a"}', tokenizer)).toThrow(new DataError('d.jsonl:1: no "prompt" field'));
    expect(() => tokenizeJsonl(f, '{"prompt": "a", "completion": ["b"]}', tokenizer)).toThrow(new DataError('d.jsonl:1: "completion" is an array, expected a string'));
    expect(() => tokenizeJsonl(f, '{"prompt": "a", "completion": ""}', tokenizer)).toThrow(new DataError('d.jsonl:1: "completion" is empty (there is nothing to learn)'));
    expect(() => tokenizeJsonl(f, '{"text": "a", "messages": []}', tokenizer)).toThrow(
      new DataError('d.jsonl:1: the object has the fields of two formats (text and messages); give one of {"text"}, {"prompt", "completion"} or {"messages"}'),
    );
    const noEos = { encode: (t: string) => tokenizer.encode(t), eosTokenId: null, padTokenId: 0 };
    expect(() => tokenizeJsonl(f, JSON.stringify(SUM), noEos)).toThrow(new DataError('d.jsonl: the tokenizer has no eos token to end each example with'));
    expect(() => tokenizeJsonl(f, JSON.stringify({ messages: CHAT }), noEos)).toThrow(new DataError('d.jsonl: {"messages"} examples need a tokenizer with a chat template'));
  });

  test('prompt-completion and messages are packed or padded, never concatenated across examples', () => {
    const file = jsonl(SUM);
    expect(() => jsonlDataset(file, tokenizer, { seqLen: 8, layout: 'concatenate' })).toThrow(
      new DataError(`${file}: prompt-completion examples are packed or padded, not concatenated (that would let an example attend to the one before it)`),
    );
  });
});

describe('packing', () => {
  test('best-fit decreasing: longest first, each into the open row it fills best', () => {
    // 7 opens row 0 (room 3); 5 opens row 1 (room 5); 4 fits row 1 best (room 1); 3 fits row 0 (room 0); 2 opens row 2
    expect(bestFitDecreasing([3, 5, 7, 2, 4], 10)).toEqual([[2, 0], [1, 4], [3]]);
    expect(bestFitDecreasing([10, 10], 10)).toEqual([[0], [1]]);
  });

  test('a packed row: examples side by side, positions from 0 for each, no label on an example first token, padding masked', () => {
    const file = jsonl(SUM, { prompt: '2', completion: '3' }, { prompt: 'Hi', completion: 'ok' });
    // lengths 7, 4 (<bos> 2 3 <eos>), 5 (<bos> Hi o k <eos>): rows of 12 take [7, 5] and [4]
    const data = jsonlDataset(file, tokenizer, { seqLen: 12, vocabSize: 256 });
    expect(rowsOf(data, data.inputIds)).toEqual([
      [...SUM_IDS, 2, 248, 88, 84, 1],
      [2, 27, 28, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    expect(rowsOf(data, data.positionIds)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4],
      [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7],
    ]);
    expect(rowsOf(data, data.labels)).toEqual([
      [X, X, X, X, X, 30, 1, X, X, 88, 84, 1],
      [X, X, 28, 1, X, X, X, X, X, X, X, X],
    ]);
    expect(rowsOf(data, data.attentionMask)).toEqual([
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    expect(data.notes).toEqual(['prompt-completion examples, loss on the completions only', '3 examples packed into 2 rows (66.7% of the tokens are not padding)']);
    const batch = makeBatch(data, [1, 0]);
    expect(batch.positionIds!.shape).toEqual([2, 12]);
    expect(Array.from(batch.positionIds!.contiguousData().subarray(0, 12))).toEqual(rowsOf(data, data.positionIds)[1]);
    expect(batch.lossTokens).toBe(2 + 5);
    expect(batch.inputTokens).toBe(4 + 12);
  });

  test('with every token counted, each example still gets no label on its first token (DataCollatorWithFlattening)', () => {
    const file = jsonl({ text: 'ab' }, { text: 'a' });
    const data = jsonlDataset(file, tokenizer, { seqLen: 8, layout: 'pack' });
    expect(rowsOf(data, data.inputIds)).toEqual([[2, 74, 75, 1, 2, 74, 1, 0]]);
    expect(rowsOf(data, data.labels)).toEqual([[X, 74, 75, 1, X, 74, 1, X]]);
    expect(rowsOf(data, data.positionIds)).toEqual([[0, 1, 2, 3, 0, 1, 2, 0]]);
  });

  test('an example longer than seqLen is cut to its first seqLen tokens, as TRL truncates; one left without labels is counted', () => {
    const file = jsonl({ prompt: 'aaaaaa', completion: 'b' }, SUM);
    const data = jsonlDataset(file, tokenizer, { seqLen: 6 });
    // both are 6 tokens after the cut: packed in file order
    expect(rowsOf(data, data.inputIds)).toEqual([
      [2, 74, 74, 74, 74, 74],
      [2, 27, 20, 28, 38, 30],
    ]);
    expect(rowsOf(data, data.labels)).toEqual([
      [X, X, X, X, X, X],
      [X, X, X, X, X, 30],
    ]);
    expect(data.notes.slice(1)).toEqual([
      '2 of 2 examples are longer than 6 tokens and were cut to their first 6 (as TRL truncates to max_length)',
      '1 of 2 examples have no label to learn (after the cut) and train nothing',
      '2 examples packed into 2 rows (100.0% of the tokens are not padding)',
    ]);
  });

  test('packing and padding need a pad token', () => {
    const noPad = { ...tokenizer, encode: tokenizer.encode.bind(tokenizer), eosTokenId: 1, padTokenId: null };
    expect(() => packExamples([{ line: 1, ids: [1, 2], labels: [1, 2] }], 4, noPad.padTokenId)).toThrow(new DataError('packing needs a pad token (to fill the rows) and the tokenizer has none'));
    expect(() => jsonlDataset(jsonl(SUM), noPad, { seqLen: 8, layout: 'pad' })).toThrow(/padding needs a pad token/);
  });
});

describe('padding', () => {
  test('one example per row, right-padded; the completion labels only; no position ids (0..T-1)', () => {
    const data = jsonlDataset(jsonl({ messages: CHAT.slice(0, 2) }), tokenizer, { seqLen: 16, layout: 'pad' });
    expect(rowsOf(data, data.inputIds)).toEqual([[...CHAT_IDS.slice(0, 14), 0, 0]]);
    expect(rowsOf(data, data.labels)).toEqual([[X, X, X, X, X, X, X, X, X, X, 88, 84, 5, 6, X, X]]);
    expect(rowsOf(data, data.attentionMask)).toEqual([[...Array(14).fill(1), 0, 0]]);
    expect(data.positionIds).toBeNull();
  });
});
