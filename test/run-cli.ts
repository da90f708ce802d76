// The gemma2 command for the CLI tests: run as a user runs it (node
// lib/cli/gemma2.js ...) in a child process, or in this process (main(),
// with its console and stdout/stderr output captured) where a test runs many
// commands and the child's start-up (tsx, kernels) would dominate.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { main } from '../lib/cli/main.ts';

/** The repository's root folder (the command's working directory). */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `gemma2 ...args` in a child process: its exit status and output. */
export function gemma2(...args: string[]): CliRun {
  const result = spawnSync(process.execPath, [path.join(repoRoot, 'lib/cli/gemma2.js'), ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `gemma2 ...args` through main() in this process, capturing what it prints (console and direct writes). */
export async function gemma2InProcess(...args: string[]): Promise<CliRun> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a) => void stdout.push(`${a.join(' ')}\n`));
  vi.spyOn(console, 'error').mockImplementation((...a) => void stderr.push(`${a.join(' ')}\n`));
  vi.spyOn(console, 'warn').mockImplementation((...a) => void stderr.push(`${a.join(' ')}\n`));
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (stdout.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
  try {
    const status = await main(args);
    return { status, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    vi.restoreAllMocks();
  }
}
