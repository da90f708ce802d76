// gemma2: the command-line entry. One subcommand per job:
//   gemma2 parity <case.safetensors>... --models <dir> [--backend B] [--save-actual <dir>]
//   gemma2 generate --model <dir> (--prompt "..." [--chat] | --ids 2,45,7) [sampling options]
//   gemma2 train (--model <dir> | --init <config.json>) (--data <file> | --tokens <file>) --out <dir> [options]
//   gemma2 merge --adapter <dir> [--model <dir>] --out <dir>
//   gemma2 eval --model <dir> [--adapter <dir>] --data <file.jsonl>
// `gemma2 <command> --help` prints that command's usage.
// Exit codes: 0 success, 1 a check failed, 2 bad usage or input.

import { runParity, PARITY_USAGE } from './parity.ts';
import { UsageError } from './usage-error.ts';
import { runGenerate, GENERATE_USAGE } from './generate.ts';
import { runTrain, TRAIN_USAGE } from './train.ts';
import { runMerge, MERGE_USAGE } from './merge.ts';
import { runEval, EVAL_USAGE } from './eval.ts';

/** Each subcommand: what it does (one line), its usage text, and how it runs. */
const COMMANDS: Record<string, { summary: string; usage: string; run: (argv: string[]) => number | Promise<number> }> = {
  parity: { summary: 'compare this implementation with golden cases computed by Transformers', usage: PARITY_USAGE, run: runParity },
  generate: { summary: 'generate text or token ids from a model folder (optionally with a LoRA adapter)', usage: GENERATE_USAGE, run: runGenerate },
  train: { summary: 'fine-tune a model (fully or with LoRA) on token ids or JSONL texts, or train a classifier', usage: TRAIN_USAGE, run: runTrain },
  eval: { summary: 'perplexity of a causal LM, or accuracy and F1 (MSE) of a classifier, on a JSONL file', usage: EVAL_USAGE, run: runEval },
  merge: { summary: 'fold a LoRA adapter into its base model and write a Hugging Face folder', usage: MERGE_USAGE, run: runMerge },
};

const USAGE = `usage: gemma2 <command> [options]     (gemma2 <command> --help: that command's options)

commands:
${Object.entries(COMMANDS)
  .map(([name, { summary }]) => `  ${name.padEnd(9)} ${summary}`)
  .join('\n')}
${Object.values(COMMANDS)
  .map(({ usage }) => usage)
  .join('\n')}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const known = command !== undefined && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  try {
    if (known !== undefined) return await known.run(rest);
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    const e = error as Error;
    console.error(`gemma2: ${e.message}`);
    // a usage error is followed by the usage of the command it concerns (all of them for an unknown command)
    if (e instanceof UsageError) console.error(known === undefined ? `\n${USAGE}` : `\nusage:${known.usage}`);
    return 2;
  }
}
