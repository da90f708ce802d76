// gemma2 generate: text (or token ids) from a model folder, streamed to
// stdout as it is produced; timings go to stderr at the end.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './usage-error.ts';
import { integerListOption, numberOption, parseCommandLine } from './args.ts';
import { loadModelWithAdapter } from './load-model.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { Tensor } from '../tensor/tensor.ts';
import { setBackend, describeBackend } from '../../kernels/backend.ts';
import { DEFAULT_MAX_CACHE_BYTES, generate, longestCacheThatFits } from '../generation/generate.ts';
import { hybridCacheBytes } from '../generation/hybrid-cache.ts';
import { HfTokenizer, TOKENIZER_FILE } from '../tokenizer/tokenizer.ts';
import { TextStreamer } from '../tokenizer/streamer.ts';

export const GENERATE_USAGE = `
gemma2 generate (--model <dir> | --adapter <dir> | both) (--prompt "..." [--chat] | --ids 2,45,7) [options]
  --model <dir>             a Hugging Face model folder (config.json, safetensors; tokenizer.json for text),
                            or a LoRA checkpoint-<step> of gemma2 train (its base model is found as for --adapter)
  --adapter <dir>           a PEFT LoRA adapter (adapter_config.json) to attach to the base model: --model, or
                            else the adapter's base_model_name_or_path (or the --init weights of its training run)
  --prompt <text>           the prompt, encoded with the folder's tokenizer (a <bos> is added)
  --chat                    wrap the prompt as one user turn of the tokenizer's chat template
  --ids <a,b,c>             the prompt as token ids (no tokenizer needed)
  --max-new-tokens <n>      default 64; refused when the key/value cache for prompt + n tokens would pass
                            half this machine's memory (at most 8 GiB)
  --temperature <t>, --top-k <k>, --top-p <p>
                            sample instead of greedy decoding (top-k defaults to 50 when sampling, as Transformers)
  --repetition-penalty <r>  > 1 discourages tokens already in the sequence, greedy or sampled (Transformers' order:
                            the penalty, then temperature, top-k, top-p)
  --seed <s>                sampling seed (default 0): the same seed gives the same text
  --backend <name>          kernel backend: webasm, cpu, ...
  A prompt or answer past the model's max_position_embeddings is generated with a warning on stderr.`;

const OPTIONS = {
  model: { type: 'string' },
  adapter: { type: 'string' },
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
} as const;

const gibibytes = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

export function runGenerate(argv: string[]): number {
  const { values, help } = parseCommandLine('generate', argv, OPTIONS);
  if (help) {
    console.log(GENERATE_USAGE.trimStart());
    return 0;
  }
  const text = (name: keyof typeof OPTIONS) => values[name] as string | undefined;
  if (text('model') === undefined && text('adapter') === undefined) throw new UsageError('generate: --model <dir> (or --adapter <dir>) is required');
  if ((text('prompt') === undefined) === (text('ids') === undefined)) throw new UsageError('generate: give exactly one of --prompt and --ids');
  if (values.chat && text('prompt') === undefined) throw new UsageError('generate: --chat needs --prompt');
  const option = (name: keyof typeof OPTIONS, integer: boolean, check: (n: number) => boolean, expected: string) =>
    numberOption('generate', name, values[name], { integer, check, expected });
  const maxNewTokens = option('max-new-tokens', true, (n) => n >= 0, 'an integer >= 0') ?? 64;
  const temperature = option('temperature', false, (n) => n > 0, 'a number > 0');
  const topK = option('top-k', true, (n) => n >= 0, 'an integer >= 0');
  const topP = option('top-p', false, (n) => n > 0 && n <= 1, 'a number in (0, 1]');
  const repetitionPenalty = option('repetition-penalty', false, (n) => n > 0, 'a number > 0');
  const seed = option('seed', true, () => true, 'an integer') ?? 0;
  const idsFromArgs = text('ids') === undefined ? null : integerListOption('generate', 'ids', text('ids')!);
  if (text('backend') !== undefined) setBackend(text('backend')!);

  const loaded = loadModelWithAdapter('generate', { model: text('model'), adapter: text('adapter') });
  const { model } = loaded;
  if (!(model instanceof Gemma2ForCausalLM)) {
    throw new UsageError(`generate: ${loaded.description} is a ${loaded.task} model (${model.architecture}); generation needs a causal LM`);
  }
  if (loaded.lora !== null) console.error(`gemma2: generating with ${loaded.description}`);
  // the tokenizer: beside the adapter (gemma2 train copies it into checkpoints), else the base folder's
  const dir = [loaded.adapterDir, loaded.baseDir].find((d) => d !== null && fs.existsSync(path.join(d, TOKENIZER_FILE))) ?? null;
  if (text('prompt') !== undefined && dir === null) {
    const where = [loaded.adapterDir, loaded.baseDir].filter((d) => d !== null).join(' nor ');
    throw new Error(`generate: ${where || 'the model'} has no ${TOKENIZER_FILE}, so a text prompt cannot be encoded; pass token ids instead, e.g. --ids 2,651,1234`);
  }
  const tokenizer = dir === null ? null : HfTokenizer.fromPretrained(dir);

  let promptIds: number[];
  if (idsFromArgs !== null) {
    promptIds = idsFromArgs;
  } else if (values.chat) {
    promptIds = tokenizer!.applyChatTemplate([{ role: 'user', content: text('prompt')! }], { addGenerationPrompt: true, tokenize: true }) as number[];
  } else {
    promptIds = tokenizer!.encode(text('prompt')!);
  }
  const vocab = model.config.vocabSize;
  const outside = promptIds.find((id) => id < 0 || id >= vocab);
  if (outside !== undefined) throw new Error(`generate: token id ${outside} is outside the model's vocabulary [0, ${vocab})`);
  if (promptIds.length === 0) throw new Error('generate: the prompt has no tokens');
  // The cache for prompt + new tokens must fit: half this machine's memory, at most generate()'s default bound.
  const maxCacheBytes = Math.min(DEFAULT_MAX_CACHE_BYTES, os.totalmem() / 2);
  const longest = longestCacheThatFits(model.config, 1, maxCacheBytes);
  if (promptIds.length + maxNewTokens > longest) {
    const needed = hybridCacheBytes(model.config, 1, promptIds.length + maxNewTokens).bytes;
    throw new Error(
      `generate: --max-new-tokens ${maxNewTokens} with a ${promptIds.length}-token prompt needs a ${gibibytes(needed)} key/value cache, ` +
        `more than the ${gibibytes(maxCacheBytes)} allowed (half this machine's memory, at most 8 GiB); at most ${Math.max(0, longest - promptIds.length)} new tokens fit`,
    );
  }

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
    maxCacheBytes,
    onWarning: (message) => console.error(`gemma2: warning: ${message}`),
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
