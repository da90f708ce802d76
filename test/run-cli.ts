// The gemma2 command, run as a user runs it (node lib/cli/gemma2.js ...), for the CLI tests.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder (the command's working directory). */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Runs `gemma2 ...args` in a child process: its exit status and output. */
export function gemma2(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(repoRoot, 'lib/cli/gemma2.js'), ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
