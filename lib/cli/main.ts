// gemma2: the command-line entry. One subcommand per job:
//   gemma2 parity <case.safetensors>... --models <dir> [--backend B] [--save-actual <dir>]
//   gemma2 generate --model <dir> (--prompt "..." [--chat] | --ids 2,45,7) [sampling options]
//   gemma2 eval --model <dir> [--adapter <dir>] --data <file.jsonl>
// Exit codes: 0 success, 1 a check failed, 2 bad usage or input.

import { runParity, PARITY_USAGE } from './parity.ts';
import { UsageError } from './usage-error.ts';
import { runGenerate, GENERATE_USAGE } from './generate.ts';
import { runTrain, TRAIN_USAGE } from './train.ts';
import { runEval, EVAL_USAGE } from './eval.ts';

const USAGE = `usage: gemma2 <command> [options]

commands:
  parity    compare this implementation with golden cases computed by Transformers
  generate  generate text or token ids from a model folder
  train     fine-tune a model (fully or with LoRA) on token ids or JSONL texts, or train a classifier
  eval      perplexity of a causal LM, or accuracy and F1 (MSE) of a classifier, on a JSONL file
${PARITY_USAGE}
${GENERATE_USAGE}
${TRAIN_USAGE}
${EVAL_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'parity':
        return await runParity(rest);
      case 'generate':
        return runGenerate(rest);
      case 'train':
        return runTrain(rest);
      case 'eval':
        return runEval(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    const e = error as Error;
    console.error(`gemma2: ${e.message}`);
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) console.error(`\n${USAGE}`);
    return 2;
  }
}
