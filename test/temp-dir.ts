// Temporary folders for tests, removed when the test file's tests are done.
//
//   const dir = tempDir('generate');   // at the top of a file, in a describe, or inside a test
//
// Every folder is made under os.tmpdir() with a "gemma2-<prefix>-" name and
// recorded; the afterAll hook below (registered once per test file: vitest
// evaluates this module afresh for each file) removes them all, whether the
// tests passed or failed.

import { afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];

afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder under the system temp folder, removed after this test file's tests. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gemma2-${prefix}-`));
  made.push(dir);
  return dir;
}
