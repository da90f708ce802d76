// lib/cli/args.ts: --help on every command, negative numbers as option
// values, strict integer and number parsing with errors naming the option.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { integerListOption, joinNegativeValues, numberOption, parseCommandLine, strictInteger, strictNumber } from '../../lib/cli/args.ts';
import { UsageError } from '../../lib/cli/usage-error.ts';

const OPTIONS = { temperature: { type: 'string' }, seed: { type: 'string' }, chat: { type: 'boolean' } } as const;

describe('parseCommandLine', () => {
  test('--help and -h ask for the usage; without them help is false', () => {
    expect(parseCommandLine('generate', ['--help'], OPTIONS).help).toBe(true);
    expect(parseCommandLine('generate', ['--seed', '3', '-h'], OPTIONS).help).toBe(true);
    const plain = parseCommandLine('generate', ['--seed', '3'], OPTIONS);
    expect(plain.help).toBe(false);
    expect(plain.values).toEqual({ seed: '3' });
  });

  test('a negative number after an option that takes a value is that value', () => {
    expect(parseCommandLine('generate', ['--temperature', '-1', '--seed', '-30'], OPTIONS).values).toEqual({ temperature: '-1', seed: '-30' });
    expect(parseCommandLine('generate', ['--temperature', '-.5'], OPTIONS).values).toEqual({ temperature: '-.5' });
    expect(parseCommandLine('generate', ['--temperature=-2e-3'], OPTIONS).values).toEqual({ temperature: '-2e-3' });
  });

  test('only numbers are joined, only to options that take a value, and nothing after --', () => {
    expect(joinNegativeValues(['--temperature', '-1'], OPTIONS)).toEqual(['--temperature=-1']);
    expect(joinNegativeValues(['--chat', '-1'], OPTIONS)).toEqual(['--chat', '-1']);
    expect(joinNegativeValues(['--temperature', '-h'], OPTIONS)).toEqual(['--temperature', '-h']);
    expect(joinNegativeValues(['--', '--temperature', '-1'], OPTIONS)).toEqual(['--', '--temperature', '-1']);
    expect(joinNegativeValues(['--temperature=1', '-1'], OPTIONS)).toEqual(['--temperature=1', '-1']);
  });

  test('an unknown option or a missing value is a UsageError naming the command and the option', () => {
    expect(() => parseCommandLine('train', ['--bogus'], OPTIONS)).toThrow(UsageError);
    expect(() => parseCommandLine('train', ['--bogus'], OPTIONS)).toThrow(/^train: Unknown option '--bogus'/);
    expect(() => parseCommandLine('merge', ['--temperature'], OPTIONS)).toThrow(/^merge: Option '--temperature <value>' argument missing/);
    expect(() => parseCommandLine('parity', ['stray'], OPTIONS)).toThrow(/^parity: Unexpected argument 'stray'/);
  });
});

describe('strict numbers', () => {
  test('integers are decimal digits, with an optional minus sign', () => {
    for (const [text, value] of [['0', 0], ['42', 42], ['-7', -7], ['007', 7]] as const) expect(strictInteger(text)).toBe(value);
    for (const text of ['1e2', '0x10', '1.0', ' 3', '3 ', '', '+3', '1_000', '9007199254740993', 'Infinity', '-']) expect(strictInteger(text), text).toBeNull();
  });

  test('numbers are plain decimal or exponent notation, finite', () => {
    for (const [text, value] of [['0.5', 0.5], ['-1', -1], ['.5', 0.5], ['5.', 5], ['1e-3', 0.001], ['+2E+2', 200]] as const) expect(strictNumber(text)).toBe(value);
    for (const text of ['0x10', 'Infinity', '-Infinity', 'NaN', '', ' 1', '1e', '.', '1e999', '0b1', '1,5']) expect(strictNumber(text), text).toBeNull();
  });

  test('every safe integer and every finite number reads back from its JavaScript spelling', () => {
    fc.assert(fc.property(fc.maxSafeInteger(), (n) => strictInteger(String(n)) === n && strictNumber(String(n)) === n));
    // String(-0) is "0": compare -0 as 0
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => strictNumber(String(x)) === x));
  });

  test('numberOption names the command, the option and the text; absent stays undefined', () => {
    const int = { integer: true, check: (n: number) => n >= 0, expected: 'an integer >= 0' };
    expect(numberOption('generate', 'top-k', undefined, int)).toBeUndefined();
    expect(numberOption('generate', 'top-k', '40', int)).toBe(40);
    expect(() => numberOption('generate', 'top-k', '1e2', int)).toThrow('generate: --top-k 1e2 is not valid (expected an integer >= 0)');
    expect(() => numberOption('generate', 'top-k', '-1', int)).toThrow('generate: --top-k -1 is not valid (expected an integer >= 0)');
    expect(() => numberOption('generate', 'top-k', ' 3', int)).toThrow('generate: --top-k " 3" is not valid');
    expect(() => numberOption('generate', 'top-k', '', int)).toThrow('generate: --top-k "" is not valid');
    const float = { integer: false, check: (n: number) => n > 0, expected: 'a number > 0' };
    expect(numberOption('train', 'lr', '3e-4', float)).toBe(3e-4);
    expect(() => numberOption('train', 'lr', 'Infinity', float)).toThrow('train: --lr Infinity is not valid (expected a number > 0)');
  });

  test('integer lists name the item that is not an integer', () => {
    expect(integerListOption('generate', 'ids', '2, 45,7')).toEqual([2, 45, 7]);
    expect(() => integerListOption('generate', 'ids', '2,1e2')).toThrow('generate: --ids must be comma-separated integers, got "1e2" in "2,1e2"');
    expect(() => integerListOption('generate', 'ids', '0x10')).toThrow('got "0x10"');
    expect(() => integerListOption('generate', 'ids', '2,,3')).toThrow('got ""');
  });
});
