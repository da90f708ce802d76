// The worker pool (kernels/wasm/threads.ts) must never leave the main thread
// waiting forever in Atomics.wait: not when the pool is replaced in the middle
// of a job, and not when a job is started from inside another job's share.
// (A failing worker is tested in test/backend.test.ts.) The scenarios run in a
// child process, so that a hang ends in a timeout instead of blocking vitest.

import { expect, test } from 'vitest';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const script = path.join(import.meta.dirname, 'scripts', 'worker-pool-scenarios.ts');

test('a pool stopped during a job, and a job nested in another, both return', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
  expect(run.error, 'the child hung (killed at 60 s)').toBeUndefined();
  expect(run.stderr).toBe('');
  expect(run.stdout.trim().split('\n')).toEqual(['stopped during a job: returned', 'nested job: returned, 4 of 4 ran on this thread']);
  expect(run.status).toBe(0);
});
