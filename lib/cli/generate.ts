// gemma2 generate: text (or token ids) from a model folder, streamed to
// stdout as it is produced; timings go to stderr at the end.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.ts';
import { Tensor } from '../tensor/tensor.ts';
import { setBackend, describeBackend } from '../../kernels/backend.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { generate } from '../generation/generate.ts';
import { HfTokenizer, TOKENIZER_FILE } from '../tokenizer/tokenizer.ts';
import { TextStreamer } from '../tokenizer/streamer.ts';

export const GENERATE_USAGE = `
gemma2 generate --model <dir> (--prompt "..." [--chat] | --ids 2,45,7) [options]
  --model <dir>             a Hugging Face model folder (config.json, safetensors; tokenizer.json for text)
  --prompt <text>           the prompt, encoded with the folder's tokenizer (a <bos> is added)
  --chat                    wrap the prompt as one user turn of the tokenizer's chat template
  --ids <a,b,c>             the prompt as token ids (no tokenizer needed)
  --max-new-tokens <n>      default 64
  --temperature <t>, --top-k <k>, --top-p <p>, --repetition-penalty <r>
                            sample instead of greedy decoding (top-k defaults to 50 when sampling, as Transformers)
  --seed <s>                sampling seed (default 0): the same seed gives the same text
  --backend <name>          kernel backend: webasm, cpu, ...`;

function numberOption(value: string | undefined, name: string, check: (n: number) => boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!check(n)) throw new UsageError(`generate: --${name} ${value} is not valid`);
  return n;
}

export function runGenerate(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      chat: { type: 'boolean' },
      ids: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
    },
  });
  const dir = values.model;
  if (dir === undefined) throw new UsageError('generate: --model <dir> is required');
  if ((values.prompt === undefined) === (values.ids === undefined)) throw new UsageError('generate: give exactly one of --prompt and --ids');
  if (values.chat && values.prompt === undefined) throw new UsageError('generate: --chat needs --prompt');
  const maxNewTokens = numberOption(values['max-new-tokens'], 'max-new-tokens', (n) => Number.isInteger(n) && n >= 0) ?? 64;
  const temperature = numberOption(values.temperature, 'temperature', (n) => n > 0);
  const topK = numberOption(values['top-k'], 'top-k', (n) => Number.isInteger(n) && n >= 0);
  const topP = numberOption(values['top-p'], 'top-p', (n) => n > 0 && n <= 1);
  const repetitionPenalty = numberOption(values['repetition-penalty'], 'repetition-penalty', (n) => n > 0);
  const seed = numberOption(values.seed, 'seed', Number.isInteger) ?? 0;
  if (values.backend !== undefined) setBackend(values.backend);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`generate: model folder ${dir} does not exist`);

  const hasTokenizer = fs.existsSync(path.join(dir, TOKENIZER_FILE));
  if (values.prompt !== undefined && !hasTokenizer) {
    throw new Error(`generate: ${dir} has no ${TOKENIZER_FILE}, so a text prompt cannot be encoded; pass token ids instead, e.g. --ids 2,651,1234`);
  }
  const tokenizer = hasTokenizer ? HfTokenizer.fromPretrained(dir) : null;
  const model = Gemma2ForCausalLM.fromPretrained(dir);

  let promptIds: number[];
  if (values.ids !== undefined) {
    promptIds = values.ids.split(',').map((text) => {
      const id = Number(text.trim());
      if (text.trim() === '' || !Number.isInteger(id)) throw new UsageError(`generate: --ids must be comma-separated integers, got "${text}"`);
      return id;
    });
  } else if (values.chat) {
    promptIds = tokenizer!.applyChatTemplate([{ role: 'user', content: values.prompt! }], { addGenerationPrompt: true, tokenize: true }) as number[];
  } else {
    promptIds = tokenizer!.encode(values.prompt!);
  }
  const vocab = model.config.vocabSize;
  const outside = promptIds.find((id) => id < 0 || id >= vocab);
  if (outside !== undefined) throw new Error(`generate: token id ${outside} is outside the model's vocabulary [0, ${vocab})`);
  if (promptIds.length === 0) throw new Error('generate: the prompt has no tokens');

  // Chat models end a turn with <end_of_turn>; stop there as well as at eos.
  const eos = model.config.eosTokenId;
  const stopTokens = new Set(eos === null ? [] : Array.isArray(eos) ? eos : [eos]);
  const endOfTurn = tokenizer?.tokenToId('<end_of_turn>');
  if (values.chat && endOfTurn !== null && endOfTurn !== undefined) stopTokens.add(endOfTurn);

  const streamer = tokenizer === null ? null : new TextStreamer(tokenizer, { skipSpecialTokens: true });
  const doSample = temperature !== undefined || topK !== undefined || topP !== undefined;
  const result = generate(model, Tensor.fromData(Int32Array.from(promptIds), [1, promptIds.length]), {
    maxNewTokens,
    doSample,
    temperature,
    topK,
    topP,
    repetitionPenalty,
    seed,
    eosTokenId: [...stopTokens],
    onToken: ([token]) => {
      process.stdout.write(streamer === null ? `${token} ` : streamer.push(token));
    },
  });
  process.stdout.write(`${streamer === null ? '' : streamer.end()}\n`);
  const generated = result.newTokens[0].length;
  const decodeSteps = Math.max(0, generated - 1);
  console.error(
    `${generated} new tokens; prompt ${promptIds.length} tokens in ${(result.prefillSeconds * 1000).toFixed(0)} ms; ` +
      `decode ${decodeSteps > 0 ? (decodeSteps / result.decodeSeconds).toFixed(1) : '-'} tokens/s; kernels on ${describeBackend()}`,
  );
  return 0;
}
