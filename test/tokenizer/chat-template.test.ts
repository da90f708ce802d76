// applyChatTemplate on the fixture folder, whose tokenizer_config.json carries
// the Gemma-2 chat template: rendering with and without a generation prompt,
// encoding without a second <bos>, the template's own exceptions passed on,
// template selection by name, and errors for folders without a template.

import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';
import { MemoryModelFolder } from '../../lib/io/memory-folder.ts';
import { ChatTemplateError } from '../../lib/tokenizer/errors.ts';
import { FIXTURE_DIR, fixtureConfig, fixtureJson } from './files.ts';

const tiny = HfTokenizer.fromPretrained(FIXTURE_DIR);
const id = (token: string) => tiny.tokenToId(token)!;
const hi = [{ role: 'user', content: 'Hi' }];

describe('applyChatTemplate', () => {
  test('one user message, with and without a generation prompt', () => {
    expect(tiny.applyChatTemplate(hi, { tokenize: false })).toBe('<bos><start_of_turn>user\nHi<end_of_turn>\n');
    expect(tiny.applyChatTemplate(hi, { addGenerationPrompt: true, tokenize: false })).toBe('<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n');
  });

  test('tokenized (the default): the template\'s own <bos> only, turn markers as single tokens', () => {
    const nl = id('\n');
    expect(tiny.applyChatTemplate(hi, { addGenerationPrompt: true })).toEqual([2, 4, id('user'), nl, id('Hi'), 5, nl, 4, id('model'), nl]);
    expect(tiny.applyChatTemplate(hi)).toEqual([2, 4, id('user'), nl, id('Hi'), 5, nl]);
    // Encoding the rendered text as plain text would add a second <bos>.
    expect(tiny.encode(tiny.applyChatTemplate(hi, { tokenize: false })).slice(0, 2)).toEqual([2, 2]);
  });

  test('a conversation: assistant turns are "model", contents are trimmed', () => {
    const messages = [
      { role: 'user', content: '  Hello  ' },
      { role: 'assistant', content: 'Hi\n' },
      { role: 'user', content: 'the thing' },
    ];
    expect(tiny.applyChatTemplate(messages, { addGenerationPrompt: true, tokenize: false })).toBe(
      '<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi<end_of_turn>\n<start_of_turn>user\nthe thing<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  test('exceptions the template raises come through with its message', () => {
    const system = [{ role: 'system', content: 'Be brief.' }, ...hi];
    expect(() => tiny.applyChatTemplate(system)).toThrow(ChatTemplateError);
    expect(() => tiny.applyChatTemplate(system)).toThrow(/chat template "default" raised: System role not supported/);
    expect(() => tiny.applyChatTemplate([...hi, ...hi])).toThrow(/Conversation roles must alternate user\/assistant\/user\/assistant\/\.\.\./);
  });

  test('the special tokens and extra variables reach the template', () => {
    const template = '{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ unk_token }}|{{ additional_special_tokens | join(",") }}|{% if add_generation_prompt %}gen{% endif %}|{{ date }}';
    const t = HfTokenizer.fromJson(fixtureJson(), { ...fixtureConfig(), chat_template: template });
    expect(t.applyChatTemplate(hi, { tokenize: false, addGenerationPrompt: true, variables: { date: '1 Jan' } })).toBe(
      '<bos>|<eos>|<pad>|<unk>|<start_of_turn>,<end_of_turn>|gen|1 Jan',
    );
    // tools and documents are None unless given, as in Transformers.
    const tools = HfTokenizer.fromJson(fixtureJson(), { ...fixtureConfig(), chat_template: '{% if tools is none %}none{% endif %}' });
    expect(tools.applyChatTemplate(hi, { tokenize: false })).toBe('none');
  });
});

describe('which template', () => {
  const named = (templates: { name: string; template: string }[]) => HfTokenizer.fromJson(fixtureJson(), { ...fixtureConfig(), chat_template: templates });

  test('a list of named templates: "default" unless another is asked for', () => {
    const t = named([
      { name: 'default', template: 'D{{ messages[0].content }}' },
      { name: 'tool_use', template: 'T{{ messages[0].content }}' },
    ]);
    expect(t.applyChatTemplate(hi, { tokenize: false })).toBe('DHi');
    expect(t.applyChatTemplate(hi, { tokenize: false, templateName: 'tool_use' })).toBe('THi');
    expect(() => t.applyChatTemplate(hi, { templateName: 'rag' })).toThrow(/has no chat template named "rag" \(it has "default", "tool_use"\)/);
  });

  test('a list without "default" needs a name', () => {
    const t = named([{ name: 'tool_use', template: 'T' }]);
    expect(() => t.applyChatTemplate(hi)).toThrow(/no chat template named "default"; pick one of "tool_use" with templateName/);
    expect(t.applyChatTemplate(hi, { tokenize: false, templateName: 'tool_use' })).toBe('T');
  });

  test('malformed lists are errors naming the entry', () => {
    expect(() => named([{ name: 'a', template: 'x' }, { name: 'a', template: 'y' }])).toThrow(/chat_template names "a" twice/);
    expect(() => HfTokenizer.fromJson(fixtureJson(), { ...fixtureConfig(), chat_template: [{ name: 'a' }] })).toThrow(/chat_template\[0\] must be/);
  });

  test('no template at all', () => {
    const { chat_template: _t, ...config } = fixtureConfig();
    const t = HfTokenizer.fromJson(fixtureJson(), config);
    expect(() => t.applyChatTemplate(hi)).toThrow(/tokenizer.json has no chat template \(no "chat_template" in tokenizer_config.json, no chat_template.jinja\)/);
  });

  test('chat_template.jinja in the folder replaces the config\'s template, as in Transformers', () => {
    const dir = new MemoryModelFolder({
      'tokenizer.json': fs.readFileSync(path.join(FIXTURE_DIR, 'tokenizer.json')),
      'tokenizer_config.json': fs.readFileSync(path.join(FIXTURE_DIR, 'tokenizer_config.json')),
      'chat_template.jinja': '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}',
    });
    expect(HfTokenizer.fromPretrained(dir).applyChatTemplate(hi, { tokenize: false })).toBe('[user] Hi\n');
  });

  test('a template that does not parse', () => {
    const t = HfTokenizer.fromJson(fixtureJson(), { ...fixtureConfig(), chat_template: '{% for m in messages %}{{ m.content }' });
    expect(() => t.applyChatTemplate(hi)).toThrow(/chat template "default" does not parse/);
  });

  test('messages that are not {role, content} strings are named by index', () => {
    expect(() => tiny.applyChatTemplate([...hi, { role: 'assistant', content: 3 } as never])).toThrow(/messages\[1\].content must be a string, got 3/);
    expect(() => tiny.applyChatTemplate([{ content: 'Hi' } as never])).toThrow(/messages\[0\].role must be a string/);
    expect(() => tiny.applyChatTemplate('Hi' as never)).toThrow(/messages must be a list of \{role, content\}/);
  });
});
