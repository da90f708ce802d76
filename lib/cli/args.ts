// The command line of every gemma2 subcommand, read the same way: node:util
// parseArgs (strict: an unknown option is an error), plus what it lacks:
//   - `--help` / `-h` on any subcommand (the caller prints that command's usage, exit 0);
//   - a negative number as an option's value: parseArgs takes `--temperature -1`
//     for two options, so `--name -<number>` is read as `--name=-<number>`;
//   - strict numbers: an integer option takes decimal digits only (not 1e2,
//     0x10, 1.0 or ' 3', which Number() would accept), a number option plain
//     decimal or exponent notation (not hex, Infinity, NaN or ''), and an
//     error names the option and the text it got.

import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.ts';

export type OptionSpecs = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** Option name -> its text (string options) or true (flags). */
export type OptionValues = Record<string, string | boolean | undefined>;

export interface CommandLine {
  values: OptionValues;
  positionals: string[];
  /** --help or -h was given: print the command's usage and exit 0. */
  help: boolean;
}

/** Text a negative number starts with (after the minus sign): a digit or a decimal point. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `--name -1` becomes `--name=-1` when `name` takes a value: a value that
 * looks like a negative number is never an option (no option name starts
 * with a digit). Everything after `--` is left as it is.
 */
export function joinNegativeValues(argv: readonly string[], options: OptionSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : null;
    if (name !== null && options[name]?.type === 'string' && i + 1 < argv.length && NEGATIVE_NUMBER.test(argv[i + 1])) {
      out.push(`${arg}=${argv[i + 1]}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Reads `argv` against `options` (and --help/-h); `command` names the subcommand in errors. */
export function parseCommandLine(command: string, argv: readonly string[], options: OptionSpecs, { allowPositionals = false } = {}): CommandLine {
  const all: OptionSpecs = { ...options, help: { type: 'boolean', short: 'h' } };
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, all), options: all, allowPositionals, strict: true });
  } catch (error) {
    // parseArgs's own messages name the option ("Unknown option '--x'"); say which command read it
    throw new UsageError(`${command}: ${(error as Error).message}`);
  }
  const { help, ...values } = parsed.values as OptionValues;
  return { values, positionals: parsed.positionals, help: help === true };
}

/** Decimal digits with an optional minus sign: what an integer option accepts. */
const INTEGER_TEXT = /^-?\d+$/;
/** Plain decimal or exponent notation: what a number option accepts. */
const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** The integer `text` spells, or null if it is not decimal digits (or too large to hold exactly). */
export function strictInteger(text: string): number | null {
  if (!INTEGER_TEXT.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** The finite number `text` spells in decimal or exponent notation, or null. */
export function strictNumber(text: string): number | null {
  if (!NUMBER_TEXT.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/**
 * A number option's value: undefined when absent, else the number, which must
 * be an integer (`integer`) and pass `check`; otherwise a UsageError such as
 * `generate: --top-k 1e2 is not valid (expected an integer >= 0)`.
 */
export function numberOption(
  command: string,
  name: string,
  text: string | boolean | undefined,
  rule: { integer: boolean; check: (n: number) => boolean; expected: string },
): number | undefined {
  if (text === undefined || typeof text === 'boolean') return undefined;
  const n = rule.integer ? strictInteger(text) : strictNumber(text);
  // quoted only when blanks would otherwise be invisible
  const shown = text.trim() === text && text !== '' ? text : JSON.stringify(text);
  if (n === null || !rule.check(n)) throw new UsageError(`${command}: --${name} ${shown} is not valid (expected ${rule.expected})`);
  return n;
}

/** A comma-separated list of integers (--ids 2,45,7); an error names the item that is not one. */
export function integerListOption(command: string, name: string, text: string): number[] {
  return text.split(',').map((item) => {
    const n = strictInteger(item.trim());
    if (n === null) throw new UsageError(`${command}: --${name} must be comma-separated integers, got ${JSON.stringify(item)} in ${JSON.stringify(text)}`);
    return n;
  });
}
