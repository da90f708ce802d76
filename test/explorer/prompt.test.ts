import { describe, expect, test } from 'vitest';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { defaultPrompt, parseIds, promptIds, tokenLabel } from '../../lib/explorer/views/prompt.ts';
import { StepwiseGeneration } from '../../lib/explorer/views/stepwise-generation.ts';
import { FIXTURE_DIR } from '../tokenizer/files.ts';
import { loadTinyModel } from './tiny-model.ts';

const tokenizer = HfTokenizer.fromPretrained(FIXTURE_DIR);

describe('the prompt box', () => {
  test('ids typed as numbers, separated by spaces or commas', () => {
    expect(parseIds(' 2, 17 40\n5 ', 256)).toEqual([2, 17, 40, 5]);
  });

  test('a bad id is an error naming it and the vocabulary', () => {
    expect(() => parseIds('2 256', 256)).toThrow(/id 2 \("256"\) is not a token id: ids are whole numbers from 0 to 255 \(vocab_size 256\)/);
    expect(() => parseIds('2 1.5', 256)).toThrow(/id 2 \("1.5"\)/);
    expect(() => parseIds('2 -1', 256)).toThrow(/id 2 \("-1"\)/);
    expect(() => parseIds('  ', 256)).toThrow(/no token ids given/);
  });

  test('text goes through the tokenizer; ids are read as ids; without a tokenizer text is ids', () => {
    expect(promptIds('hello world', tokenizer, tokenizer.vocabSize, false)).toEqual(tokenizer.encode('hello world'));
    expect(promptIds('3 4', tokenizer, tokenizer.vocabSize, true)).toEqual([3, 4]);
    expect(promptIds('3 4', null, 256, false)).toEqual([3, 4]);
    const id = tokenizer.encode('hello', { addSpecialTokens: false })[0];
    expect(tokenLabel(id, tokenizer)).toBe(tokenizer.idToToken(id));
    expect(tokenLabel(7, null)).toBe('#7');
  });

  test('the first prompt is one the tokenizer can encode, else ids in the vocabulary', () => {
    expect(defaultPrompt(tokenizer, tokenizer.vocabSize)).toEqual({ text: 'The capital of France is', asIds: false });
    const digitsOnly = {
      encode: (text: string) => {
        if (/[^0-9+=]/.test(text)) throw new Error('no id for the piece');
        return [...text].map(() => 3);
      },
    } as unknown as HfTokenizer;
    expect(defaultPrompt(digitsOnly, 15)).toEqual({ text: '47+85=', asIds: false });
    const prompt = defaultPrompt(null, 15);
    expect(prompt.asIds).toBe(true);
    expect(parseIds(prompt.text, 15).every((id) => id < 15)).toBe(true);
  });

  test('text that encodes to no tokens is an error', () => {
    const silent = { encode: () => [] } as unknown as HfTokenizer; // a tokenizer that adds no BOS, given only whitespace
    expect(() => promptIds(' ', silent, 256, false)).toThrow(/the text encodes to no tokens/);
  });

  test('stepwise generation refuses an empty prompt and a count that is not a positive integer', () => {
    const model = loadTinyModel();
    expect(() => new StepwiseGeneration(model, [], 3)).toThrow(/the prompt has no tokens/);
    expect(() => new StepwiseGeneration(model, [2], 0)).toThrow(/maxNewTokens must be a positive integer, got 0/);
    expect(() => new StepwiseGeneration(model, [2], 1.5)).toThrow(/maxNewTokens must be a positive integer, got 1.5/);
  });
});
