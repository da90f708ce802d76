// `npm run bench`: end-to-end timings of the model on the ../shared/bench
// configs, next to PyTorch measured in the same run. A benchmark, not a test.
//
//   npm run bench -- [--configs a.json,b.json] [--reps 5] [--backend webasm|cpu] [--weights bf16|float32] [--no-torch] [--no-tfjs] [--json out.json]
//
// For each config (a Hugging Face Gemma2 config plus a "bench" key) it times,
// with random seeded weights (normal(0, 0.02), norms 0, as the torch baseline).
// Forward, prefill and decode run on the weights as a Gemma2 checkpoint
// stores them, rounded to bf16 and kept so (--weights bf16, the default; what
// fromPretrained does with a BF16 checkpoint); --weights float32 keeps the
// float32 draws. The train step always trains float32 master weights. torch
// runs its float32 weights either way.
//   forward   forward + loss without gradients, batch x seq
//   train     forward + backward + AdamW step, batch x seq (when bench.train)
//   prefill   the prompt through the model filling a HybridCache, last logits only
//   decode    greedy steps with the cache, per token (prompt .. prompt + new_tokens)
// Each: median of --reps runs after one warm-up, with min..max, and tokens/s.
// The torch column comes from ../shared/bench/torch_baseline.py (when
// /usr/bin/python3 has torch), run in the same process tree right after ours,
// with one thread and with as many as we use (GEMMA2_THREADS, default one per
// core); each row compares against the faster of the two, and says which.
// The tfjs column comes from the TensorFlow.js peer,
// ../shared/bench/tfjs/gemma2_tfjs.mjs on its wasm backend (XNNPACK SIMD, one
// thread), when tfjs is installed where that script looks for it
// (PERF_JS_MODULES, by default <tmpdir>/perf-js: see its README); run after
// ours and torch's, one config at a time. Without it the column says why.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { noGrad } from '../autograd/tape.ts';
import { parseGemma2Config } from '../model/config.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { HybridCache } from '../generation/hybrid-cache.ts';
import { MemoryModelFolder } from '../io/memory-folder.ts';
import { argmax } from '../generation/sampling.ts';
import { AdamW } from '../train/optimizer.ts';
import { describeBackend, setBackend, backend } from '../../kernels/backend.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHARED_BENCH = path.join(here, '../../../shared/bench');

interface BenchSpec {
  batch: number;
  seq: number;
  train: boolean;
  decode?: { batch: number; prompt: number; new_tokens: number };
}

interface Row {
  config: string;
  what: 'forward' | 'train' | 'prefill' | 'decode';
  shape: string;
  /** tokens per measured unit (for tokens/s) */
  tokens: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  torchMs?: number;
  /** The thread count of the faster torch run. */
  torchThreads?: number;
  tfjsMs?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function timeRuns(reps: number, run: () => number | void): { medianMs: number; minMs: number; maxMs: number } {
  run(); // warm-up: compiles every kernel shape
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    const measured = run();
    times.push(typeof measured === 'number' ? measured : performance.now() - start);
  }
  return { medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
}

function randomIds(generator: Generator, batch: number, length: number, vocab: number): Tensor {
  return Tensor.fromData(Int32Array.from({ length: batch * length }, () => generator.nextInt(vocab)), [batch, length]);
}

/** The same model with its weights rounded to bf16 and kept in bf16, as fromPretrained keeps a BF16 checkpoint. */
function withBfloat16Weights(model: Gemma2ForCausalLM): Gemma2ForCausalLM {
  const folder = new MemoryModelFolder();
  model.savePretrained(folder, { dtype: 'BF16' });
  return Gemma2ForCausalLM.fromPretrained(folder, { weightDtype: 'bfloat16' });
}

function benchConfig(file: string, reps: number, weights: 'bf16' | 'float32'): Row[] {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const name: string = json.name ?? path.basename(file, '.json');
  const bench = json.bench as BenchSpec;
  const config = parseGemma2Config(json);
  const trained = new Gemma2ForCausalLM(config, { seed: 0 });
  // as a BF16 checkpoint loads: saved in bf16 and kept so (lib/model/pretrained.ts, weightDtype 'auto')
  const model = weights === 'bf16' ? withBfloat16Weights(trained) : trained;
  const generator = new Generator(1);
  const rows: Row[] = [];
  const log = (row: Row) => {
    rows.push(row);
    process.stderr.write(`  ${name} ${row.what}: ${row.medianMs.toFixed(1)} ms\n`);
  };

  const ids = randomIds(generator, bench.batch, bench.seq, config.vocabSize);
  log({ config: name, what: 'forward', shape: `B${bench.batch}xT${bench.seq}`, tokens: bench.batch * bench.seq, ...timeRuns(reps, () => void noGrad(() => model.forward({ inputIds: ids, labels: ids }).loss!.item())) });

  if (bench.train) {
    const model = trained; // float32 master weights
    const parameters = model.namedParameters().map(([, p]) => p.requireGrad());
    const optimizer = new AdamW(parameters, { lr: 1e-3, weightDecay: 0 });
    log({
      config: name,
      what: 'train',
      shape: `B${bench.batch}xT${bench.seq}`,
      tokens: bench.batch * bench.seq,
      ...timeRuns(reps, () => {
        optimizer.zeroGrad();
        const { loss } = model.forward({ inputIds: ids, labels: ids });
        loss!.backward();
        optimizer.step();
      }),
    });
    for (const p of parameters) p.requireGrad(false).zeroGrad();
  }

  if (bench.decode) {
    const { batch, prompt, new_tokens: newTokens } = bench.decode;
    const promptIds = randomIds(generator, batch, prompt, config.vocabSize);
    const prefill = () => {
      const cache = new HybridCache(config, { batch, maxCacheLen: prompt + newTokens });
      const logits = noGrad(() => model.forward({ inputIds: promptIds, cache, numLogitsToKeep: 1 }).logits);
      return { cache, logits };
    };
    log({ config: name, what: 'prefill', shape: `B${batch}xT${prompt}`, tokens: batch * prompt, ...timeRuns(reps, () => void prefill()) });
    const decodeMsPerToken = () => {
      const { cache, logits } = prefill();
      let next = Tensor.fromData(Int32Array.from({ length: batch }, (_, b) => argmax(logits.contiguousData().subarray(b * config.vocabSize, (b + 1) * config.vocabSize))), [batch, 1]);
      const start = performance.now();
      for (let step = 0; step < newTokens; step++) {
        const stepLogits = noGrad(() => model.forward({ inputIds: next, cache }).logits).contiguousData();
        next = Tensor.fromData(Int32Array.from({ length: batch }, (_, b) => argmax(stepLogits.subarray(b * config.vocabSize, (b + 1) * config.vocabSize))), [batch, 1]);
      }
      return (performance.now() - start) / newTokens;
    };
    log({ config: name, what: 'decode', shape: `B${batch}`, tokens: batch, ...timeRuns(reps, decodeMsPerToken) });
  }
  return rows;
}

/** torch_baseline.py's faster run for each "config|what": milliseconds and threads. */
function torchBaseline(files: string[], reps: number): Map<string, { ms: number; threads: number }> | string {
  const python = '/usr/bin/python3';
  const script = path.join(SHARED_BENCH, 'torch_baseline.py');
  if (!fs.existsSync(script)) return `no ${script}`;
  if (!fs.existsSync(python) || spawnSync(python, ['-c', 'import torch']).status !== 0) return 'torch is not installed (apt-get install python3-torch libopenblas0-pthread)';
  const out = path.join(os.tmpdir(), `gemma2-torch-bench-${process.pid}.json`);
  const threads = [...new Set([1, backend().threads])].map(String);
  const result = spawnSync(python, [script, '--configs', ...files, '--threads', ...threads, '--reps', String(Math.max(5, reps)), '--json', out], { encoding: 'utf8' });
  if (result.status !== 0) return `torch baseline failed: ${result.stderr.trim().split('\n').pop()}`;
  const rows = JSON.parse(fs.readFileSync(out, 'utf8')) as { config: string; what: string; threads: number; median_ms: number }[];
  fs.rmSync(out, { force: true });
  const best = new Map<string, { ms: number; threads: number }>();
  for (const r of rows) {
    const key = `${r.config}|${measurementOf(r.what)}`;
    const seen = best.get(key);
    if (seen === undefined || r.median_ms < seen.ms) best.set(key, { ms: r.median_ms, threads: r.threads });
  }
  return best;
}

/** Which of our measurements a peer's row ("forward+loss ...", "decode per token ...") is. */
function measurementOf(what: string): string | undefined {
  return ['forward', 'train', 'prefill', 'decode'].find((k) => what.startsWith(k));
}

/** The tfjs-wasm peer's median for each "config|what", or why there is none. */
function tfjsPeer(files: string[], reps: number): Map<string, number> | string {
  const script = path.join(SHARED_BENCH, 'tfjs', 'gemma2_tfjs.mjs');
  if (!fs.existsSync(script)) return `no ${script}`;
  const modules = process.env.PERF_JS_MODULES || path.join(os.tmpdir(), 'perf-js');
  if (!fs.existsSync(path.join(modules, 'node_modules', '@tensorflow', 'tfjs-backend-wasm'))) {
    return `tfjs is not installed in ${modules} (see ${path.join(SHARED_BENCH, 'tfjs', 'README.md')})`;
  }
  const medians = new Map<string, number>();
  for (const file of files) {
    const out = path.join(os.tmpdir(), `gemma2-tfjs-bench-${process.pid}.json`);
    const result = spawnSync(process.execPath, [script, '--backend', 'wasm', '--config', file, '--reps', String(Math.max(5, reps)), '--json', out], {
      encoding: 'utf8',
      env: { ...process.env, PERF_JS_MODULES: modules },
    });
    if (result.status !== 0) return `tfjs peer failed on ${path.basename(file)}: ${(result.stderr || result.stdout).trim().split('\n').pop()}`;
    const rows = JSON.parse(fs.readFileSync(out, 'utf8')) as { config: string; what: string; median_ms: number }[];
    fs.rmSync(out, { force: true });
    for (const r of rows) {
      const what = measurementOf(r.what);
      if (what !== undefined) medians.set(`${r.config}|${what}`, r.median_ms);
    }
  }
  return medians;
}

function main(): void {
  const { values } = parseArgs({
    options: { configs: { type: 'string' }, reps: { type: 'string' }, backend: { type: 'string' }, 'no-torch': { type: 'boolean' }, 'no-tfjs': { type: 'boolean' }, weights: { type: 'string' }, json: { type: 'string' } },
  });
  if (values.backend) setBackend(values.backend);
  const reps = Number(values.reps ?? 5);
  const weights = values.weights ?? 'bf16';
  if (weights !== 'bf16' && weights !== 'float32') throw new Error(`bench: --weights must be bf16 or float32, got ${weights}`);
  const files = values.configs
    ? values.configs.split(',').map((f) => (fs.existsSync(f) ? f : path.join(SHARED_BENCH, f)))
    : fs.readdirSync(SHARED_BENCH).filter((f) => /^bench-.*\.json$/.test(f)).sort().map((f) => path.join(SHARED_BENCH, f));
  console.log(`gemma2-ts bench: kernels on ${describeBackend()}; weights ${weights} (train: float32); median of ${reps} runs after a warm-up`);
  const rows = files.flatMap((file) => benchConfig(file, reps, weights));
  const torch = values['no-torch'] ? 'skipped (--no-torch)' : torchBaseline(files, reps);
  if (typeof torch !== 'string') {
    for (const row of rows) {
      const baseline = torch.get(`${row.config}|${row.what}`);
      row.torchMs = baseline?.ms;
      row.torchThreads = baseline?.threads;
    }
  }

  const tfjs = values['no-tfjs'] ? 'skipped (--no-tfjs)' : tfjsPeer(files, reps);
  if (typeof tfjs !== 'string') for (const row of rows) row.tfjsMs = tfjs.get(`${row.config}|${row.what}`);

  const header = ['config', 'measurement', 'shape', 'median ms', 'min..max ms', 'tokens/s', 'torch ms (threads)', 'ours/torch', 'tfjs-wasm ms', 'ours/tfjs'];
  const table = rows.map((r) => [
    r.config,
    r.what === 'decode' ? 'decode (ms/token)' : r.what,
    r.shape,
    r.medianMs.toFixed(1),
    `${r.minMs.toFixed(1)}..${r.maxMs.toFixed(1)}`,
    ((r.tokens / r.medianMs) * 1000).toFixed(1),
    r.torchMs === undefined ? '-' : `${r.torchMs.toFixed(1)} (${r.torchThreads})`,
    r.torchMs === undefined ? '-' : (r.medianMs / r.torchMs).toFixed(2),
    r.tfjsMs === undefined ? '-' : r.tfjsMs.toFixed(1),
    r.tfjsMs === undefined ? '-' : (r.medianMs / r.tfjsMs).toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  console.log(header.map((h, i) => h.padEnd(widths[i])).join('  '));
  for (const row of table) console.log(row.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  if (typeof torch === 'string') console.log(`torch column: ${torch}`);
  if (typeof tfjs === 'string') console.log(`tfjs column: ${tfjs}`);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ backend: describeBackend(), weights, reps, rows }, null, 1));
}

main();
