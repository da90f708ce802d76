// The addition task of `npm start`: its text format, the split, the rows the
// trainer sees (loss only on the answer), and the accuracy measure.

import { describe, expect, test } from 'vitest';
import * as addition from '../../lib/tasks/addition.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { noGrad } from '../../lib/autograd/tape.ts';

describe('two-digit addition', () => {
  test('prompts and answers: zero-padded operands, the sum least-significant digit first', () => {
    expect(addition.promptText({ a: 47, b: 85 })).toBe('47+85=');
    expect(addition.answerText({ a: 47, b: 85 })).toBe('231');
    expect(addition.promptText({ a: 7, b: 5 })).toBe('07+05=');
    expect(addition.answerText({ a: 7, b: 5 })).toBe('210');
    expect(addition.decode(addition.encode('47+85=231'))).toBe('47+85=231');
    expect(() => addition.encode('4*5')).toThrow(/no token for "\*"/);
  });

  test('the split is a seeded partition of all 10,000 problems', () => {
    const { train, test: held } = addition.splitProblems(200, 1);
    expect(held).toHaveLength(200);
    expect(train).toHaveLength(9800);
    const key = (p: addition.AdditionProblem) => p.a * 100 + p.b;
    expect(new Set([...train, ...held].map(key)).size).toBe(10000);
    expect(addition.splitProblems(200, 1).test).toEqual(held);
    expect(addition.splitProblems(200, 2).test).not.toEqual(held);
  });

  test('rows put the loss on the answer and <eos> only', () => {
    const data = addition.additionDataset([{ a: 47, b: 85 }]);
    expect(data.seqLen).toBe(11);
    expect(Array.from(data.inputIds)).toEqual([addition.BOS, ...addition.encode('47+85=231'), addition.EOS]);
    expect(Array.from(data.labels)).toEqual([...new Array(7).fill(-100), ...addition.encode('231'), addition.EOS]);
  });

  test('solve decodes the greedy digits; accuracy counts exact answers', () => {
    const config = parseGemma2Config({
      vocab_size: addition.VOCAB_SIZE, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 1,
      num_key_value_heads: 1, head_dim: 8, query_pre_attn_scalar: 8, pad_token_id: 0, eos_token_id: 1, bos_token_id: 2,
    });
    const model = new Gemma2ForCausalLM(config); // all-zero weights: every logit equal, argmax picks token 0
    const problems = [{ a: 1, b: 2 }, { a: 30, b: 40 }];
    expect(addition.solve(model, problems)).toEqual(['', '']);
    expect(addition.accuracy(model, problems)).toBe(0);
    // every embedding row equal except "0", which wins every logit: the model always answers 0000
    noGrad(() => {
      const table = model.model.embedTokens.contiguousData();
      table.fill(1);
      table.fill(2, addition.encode('0')[0] * 8, addition.encode('0')[0] * 8 + 8);
    });
    expect(addition.solve(model, [{ a: 0, b: 0 }])).toEqual(['0000']);
  });
});
