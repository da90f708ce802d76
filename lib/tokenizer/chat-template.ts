// Chat templates: the Jinja program in tokenizer_config.json that turns a list
// of {role, content} messages into the model's prompt text. Rendered with
// @huggingface/jinja, which lexes with trim_blocks and lstrip_blocks on and
// defines raise_exception and strftime_now, as Transformers' sandbox does.
// The variables are Transformers' (apply_chat_template): messages,
// add_generation_prompt, tools and documents (None unless given), and the
// special tokens map (bos_token, eos_token, ..., additional_special_tokens).

import { Template } from '@huggingface/jinja';
import { ChatTemplateError } from './errors.ts';

export interface ChatMessage {
  /** "user", "assistant", "system", ... — what the template accepts is up to the template. */
  role: string;
  content: string;
  /** Further fields are passed to the template as they are. */
  [field: string]: unknown;
}

/**
 * The template to use, as Transformers picks it: the one asked for by name,
 * else the one named "default" (a single string template is stored under that name).
 */
export function selectChatTemplate(templates: ReadonlyMap<string, string>, name: string | undefined, source: string): { name: string; text: string } {
  if (templates.size === 0) {
    throw new ChatTemplateError(`${source} has no chat template (no "chat_template" in tokenizer_config.json, no chat_template.jinja); encode the prompt text directly instead`);
  }
  const names = [...templates.keys()].map((n) => JSON.stringify(n)).join(', ');
  const wanted = name ?? 'default';
  const text = templates.get(wanted);
  if (text !== undefined) return { name: wanted, text };
  if (name !== undefined) throw new ChatTemplateError(`${source} has no chat template named ${JSON.stringify(name)} (it has ${names})`);
  throw new ChatTemplateError(`${source} has no chat template named "default"; pick one of ${names} with templateName`);
}

/** Compiles a template; a syntax error names the template. */
export function compileChatTemplate(text: string, name: string, source: string): Template {
  try {
    return new Template(text);
  } catch (error) {
    throw new ChatTemplateError(`${source}: chat template ${JSON.stringify(name)} does not parse: ${(error as Error).message}`);
  }
}

/** Checks the messages before a template sees them, so a bad one is named by index, not by a template error. */
export function checkMessages(messages: unknown): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages)) throw new ChatTemplateError(`applyChatTemplate: messages must be a list of {role, content}, got ${typeof messages}`);
  messages.forEach((message: unknown, i) => {
    if (typeof message !== 'object' || message === null) throw new ChatTemplateError(`applyChatTemplate: messages[${i}] must be an object {role, content}`);
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string') throw new ChatTemplateError(`applyChatTemplate: messages[${i}].role must be a string, got ${JSON.stringify(role)}`);
    if (typeof content !== 'string') throw new ChatTemplateError(`applyChatTemplate: messages[${i}].content must be a string, got ${JSON.stringify(content)}`);
  });
}

/**
 * Renders a compiled template. An exception the template raises
 * (raise_exception('System role not supported')) comes back as a
 * ChatTemplateError carrying the template's own message.
 */
export function renderChatTemplate(template: Template, name: string, source: string, variables: Record<string, unknown>): string {
  try {
    return template.render({ tools: null, documents: null, ...variables });
  } catch (error) {
    throw new ChatTemplateError(`${source}: chat template ${JSON.stringify(name)} raised: ${(error as Error).message}`);
  }
}
