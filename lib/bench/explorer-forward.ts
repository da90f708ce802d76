// A forward of a random-weight model in the explorer page, on each of the
// page's backends, in headless Debian Chromium (a benchmark, not a test):
//
//   npm run bench:explorer -- [config.json] [--reps N] [--backends webgl2,cpu-path,gpujs-cpu]
//
// The config defaults to ../shared/bench/bench-small.json; its "bench" block
// gives batch x seq. Each backend builds the model in the page (seeded random
// weights), runs one warm-up forward (GPU.js compiles its kernels there), then
// N timed forwards with the loss and without gradients, as lib/bench/model.ts's
// "forward" row does on Node. WebGL2 in headless Chromium is SwiftShader (the
// GPU emulated on the CPU), not a GPU: see the README's "The explorer".

import fs from 'node:fs';
import path from 'node:path';
import { type ExplorerWindow, repositoryRoot, startExplorer } from '../explorer/chromium.ts';

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const value = args[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  args.splice(at, 2);
  return value;
}
const reps = Number(option('--reps') ?? 3);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a positive integer, got ${reps}`);
const backends = (option('--backends') ?? 'webgl2,cpu-path,gpujs-cpu').split(',');
const configFile = args[0] ?? path.join(repositoryRoot, '..', 'shared', 'bench', 'bench-small.json');
if (!fs.existsSync(configFile)) throw new Error(`${configFile}: no such config (give a bench config such as ../shared/bench/bench-small.json)`);
const configJson = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { name?: string; bench?: { batch?: number; seq?: number } };
const batch = configJson.bench?.batch ?? 1;
const seq = configJson.bench?.seq ?? 128;

const session = await startExplorer();
try {
  const page = await session.context.newPage();
  await page.goto(session.url);
  await page.evaluate(() => (globalThis as unknown as ExplorerWindow).gemma2ExplorerReady);
  console.log(`${configJson.name ?? path.basename(configFile)}: forward + loss, B${batch}xT${seq}, ${reps} timed runs after one warm-up, in headless Chromium`);
  for (const backend of backends) {
    const result = await page.evaluate(
      ({ backend, configJson, batch, seq, reps }) => {
        const explorer = (globalThis as unknown as ExplorerWindow).gemma2Explorer;
        explorer.selectBackend(backend);
        return { ...explorer.benchForward(configJson, batch, seq, reps), summary: explorer.backend().summary };
      },
      { backend, configJson, batch, seq, reps },
    );
    const sorted = [...result.forwardMs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(
      `${backend.padEnd(10)} median ${median.toFixed(0).padStart(7)} ms  (runs ${result.forwardMs.map((ms) => ms.toFixed(0)).join(', ')} ms; warm-up ${result.warmupMs.toFixed(0)} ms; ${((batch * seq) / (median / 1000)).toFixed(0)} tokens/s)  ${result.summary}`,
    );
  }
} finally {
  await session.close();
}
