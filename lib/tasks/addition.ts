// A synthetic task with an objective score, for training a small Gemma2 from
// scratch: two-digit addition written as text, e.g. 47+85=231 for 47 + 85 = 132.
// The answer is written least-significant digit first, the order in which
// carries are computed, which is what lets a two-layer model learn it in a few
// hundred steps. Operands are zero-padded (07+05=210), so every example has
// the same length and batches need no padding.
//
// Tokens: 0 <pad>, 1 <eos>, 2 <bos>, then the characters 0-9 + =.

import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { Dataset } from '../train/data.ts';
import { generate } from '../generation/generate.ts';
import type { Gemma2ForCausalLM } from '../model/causal-lm.ts';

export const PAD = 0;
export const EOS = 1;
export const BOS = 2;
const CHARACTERS = '0123456789+=';
export const VOCAB_SIZE = 3 + CHARACTERS.length;
const DIGITS = 2;

export interface AdditionProblem {
  a: number;
  b: number;
}

/** "47+85=" for 47 + 85. */
export function promptText({ a, b }: AdditionProblem): string {
  return `${String(a).padStart(DIGITS, '0')}+${String(b).padStart(DIGITS, '0')}=`;
}

/** "231" for 47 + 85 = 132: the sum, three digits, least significant first. */
export function answerText({ a, b }: AdditionProblem): string {
  return [...String(a + b).padStart(DIGITS + 1, '0')].reverse().join('');
}

export function encode(text: string): number[] {
  return [...text].map((c) => {
    const i = CHARACTERS.indexOf(c);
    if (i < 0) throw new Error(`addition: no token for ${JSON.stringify(c)}`);
    return 3 + i;
  });
}

export function decode(ids: readonly number[]): string {
  return ids.map((id) => (id >= 3 ? CHARACTERS[id - 3] : id === EOS ? '<eos>' : id === BOS ? '<bos>' : '<pad>')).join('');
}

/** Every problem with operands below 100, split into a held-out test set and the rest, by a seeded shuffle. */
export function splitProblems(testCount: number, seed: number): { train: AdditionProblem[]; test: AdditionProblem[] } {
  const all: AdditionProblem[] = [];
  for (let a = 0; a < 10 ** DIGITS; a++) for (let b = 0; b < 10 ** DIGITS; b++) all.push({ a, b });
  const generator = new Generator(seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = generator.nextInt(i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return { test: all.slice(0, testCount), train: all.slice(testCount) };
}

/** Rows "<bos>47+85=231<eos>" with the loss on the answer and <eos> only (the operands are not predictable). */
export function additionDataset(problems: AdditionProblem[]): Dataset {
  const prompts = problems.map((p) => [BOS, ...encode(promptText(p))]);
  const answers = problems.map((p) => [...encode(answerText(p)), EOS]);
  const seqLen = prompts[0].length + answers[0].length;
  const ids = Int32Array.from(prompts.flatMap((prompt, i) => [...prompt, ...answers[i]]));
  const labels = Int32Array.from(prompts.flatMap((prompt, i) => [...prompt.map(() => -100), ...answers[i]]));
  return new Dataset(ids, labels, null, seqLen, 'two-digit addition');
}

/** Greedy answers to `problems`, in batches. */
export function solve(model: Gemma2ForCausalLM, problems: AdditionProblem[], batchSize = 100): string[] {
  const answers: string[] = [];
  for (let first = 0; first < problems.length; first += batchSize) {
    const batch = problems.slice(first, first + batchSize);
    const prompts = batch.map((p) => [BOS, ...encode(promptText(p))]);
    const ids = Tensor.fromData(Int32Array.from(prompts.flat()), [batch.length, prompts[0].length]);
    const { newTokens } = generate(model, ids, { maxNewTokens: DIGITS + 2, eosTokenId: EOS });
    for (const tokens of newTokens) answers.push(decode(tokens.filter((t) => t >= 3)));
  }
  return answers;
}

/** Fraction of problems whose greedy answer is exactly right. */
export function accuracy(model: Gemma2ForCausalLM, problems: AdditionProblem[]): number {
  const answers = solve(model, problems);
  return answers.filter((answer, i) => answer === answerText(problems[i])).length / problems.length;
}

/** The small Gemma2 `npm start` trains on this task (and the explorer ships), as a config.json's fields. */
export const MODEL_CONFIG = {
  model_type: 'gemma2',
  vocab_size: VOCAB_SIZE,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  query_pre_attn_scalar: 8,
  sliding_window: 16,
  max_position_embeddings: 64,
  pad_token_id: PAD,
  eos_token_id: EOS,
  bos_token_id: BOS,
} as const;
