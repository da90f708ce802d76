// `npm run bench:grad-checkpoint`: what gradient checkpointing saves and costs
// on a training step (forward + backward + AdamW), with it and without it.
// A benchmark, not a test.
//
//   npm run bench:grad-checkpoint -- [--config bench-small.json] [--reps 5] [--rounds 2] [--lora] [--backend webasm|cpu] [--json out.json]
//
// The config is a ../shared/bench file (a Hugging Face Gemma2 config plus a
// "bench" key giving batch x seq), with random seeded float32 weights, as
// `npm run bench` trains them. --lora trains LoRA adapters (r 8 on every
// projection, dropout 0.05) over the frozen weights instead of every weight.
//
// Each mode runs in a fresh child process, so that its memory high-water
// mark is its own; --rounds alternates the modes (off, on, off, on, ...) so
// that a change in the machine's load falls on both. Each child reports:
//   tape MB    what the tape holds at the end of the forward, the moment
//              before backward, when a plain step holds the most: the bytes
//              of every tensor a grad node keeps (inputs, outputs, host
//              arrays in its attrs) that is not a trained parameter, each
//              byte once (views of one array count once). Deterministic.
//   peak RSS   the process's resident high-water mark (resourceUsage's
//              maxRSS) minus its resident size before the first step: the
//              step's working memory, recomputation and gradients included,
//              as the operating system sees it (weights and model building
//              excluded; the optimizer's state, allocated in the first step,
//              included in both modes alike).
//   step ms    the median over --reps steps after one warm-up step.
// The table gives the medians over the rounds.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { parseGemma2Config } from '../model/config.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { LoraModel } from '../train/lora.ts';
import { AdamW } from '../train/optimizer.ts';
import { describeBackend, setBackend } from '../../kernels/backend.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHARED_BENCH = path.join(here, '../../../shared/bench');
const MB = 2 ** 20;

interface ChildResult {
  mode: 'off' | 'on';
  tapeBytes: number;
  peakRssBytes: number;
  stepMs: number[];
  backend: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The typed arrays a grad node's attrs hold: directly, as tensors, or one level down in arrays and plain objects. */
function arraysInAttrs(attrs: unknown, depth = 0): ArrayBufferView[] {
  if (attrs === null || typeof attrs !== 'object') return [];
  if (ArrayBuffer.isView(attrs)) return [attrs];
  if (attrs instanceof Tensor) return [attrs.nd.data];
  if (depth > 1) return [];
  const values = Array.isArray(attrs) ? attrs : Object.values(attrs);
  return values.flatMap((v) => arraysInAttrs(v, depth + 1));
}

/** Bytes of the union of `views` of one buffer. */
function unionBytes(views: ArrayBufferView[]): number {
  const ranges = views.map((v) => [v.byteOffset, v.byteOffset + v.byteLength]).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -1;
  for (const [from, to] of ranges) {
    if (to <= end) continue;
    total += to - Math.max(from, end);
    end = to;
  }
  return total;
}

/** What the tape reachable from `root` holds besides the trained parameters (see the header). */
function tapeBytes(root: Tensor, parameters: ReadonlySet<Tensor>): number {
  const seen = new Set<Tensor>();
  const views: ArrayBufferView[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (!parameters.has(t)) views.push(t.nd.data);
    const node = t.gradNode;
    if (node === null) continue;
    stack.push(...node.inputs);
    views.push(...arraysInAttrs(node.attrs));
  }
  const parameterBuffers = new Set([...parameters].map((p) => p.nd.data.buffer));
  const byBuffer = new Map<ArrayBufferLike, ArrayBufferView[]>();
  for (const v of views) {
    if (parameterBuffers.has(v.buffer)) continue;
    const list = byBuffer.get(v.buffer);
    if (list === undefined) byBuffer.set(v.buffer, [v]);
    else list.push(v);
  }
  let total = 0;
  for (const list of byBuffer.values()) total += unionBytes(list);
  return total;
}

/** One mode in this process: the measurements of --reps steps after a warm-up. */
function runChild(mode: 'off' | 'on', configFile: string, reps: number, lora: boolean): ChildResult {
  const json = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  const { batch, seq } = json.bench as { batch: number; seq: number };
  const config = parseGemma2Config(json);
  const model = new Gemma2ForCausalLM(config, { seed: 0 });
  let parameters: Tensor[];
  if (lora) {
    const adapters = new LoraModel(model, { r: 8, alpha: 16, dropout: 0.05, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }, 0);
    parameters = adapters.trainableParameters().map(([, p]) => p);
  } else {
    parameters = model.namedParameters().map(([, p]) => p.requireGrad());
  }
  model.model.gradientCheckpointing = mode === 'on';
  const optimizer = new AdamW(parameters, { lr: 1e-4, weightDecay: 0 });
  const generator = new Generator(1);
  const ids = Tensor.fromData(Int32Array.from({ length: batch * seq }, () => generator.nextInt(config.vocabSize)), [batch, seq]);
  const trained = new Set(parameters);

  const rssBefore = process.memoryUsage().rss;
  let measuredTape = 0;
  const step = (measureTape: boolean) => {
    optimizer.zeroGrad();
    const { loss } = model.forward({ inputIds: ids, labels: ids });
    if (measureTape) measuredTape = tapeBytes(loss!, trained);
    loss!.backward();
    optimizer.step();
  };
  step(true); // warm-up: compiles every kernel shape, allocates the optimizer's state
  const stepMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    step(false);
    stepMs.push(performance.now() - start);
  }
  const peakRssBytes = process.resourceUsage().maxRSS * 1024 - rssBefore;
  return { mode, tapeBytes: measuredTape, peakRssBytes, stepMs, backend: describeBackend() };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      reps: { type: 'string' },
      rounds: { type: 'string' },
      lora: { type: 'boolean' },
      backend: { type: 'string' },
      json: { type: 'string' },
      child: { type: 'string' },
    },
  });
  const given = values.config ?? 'bench-small.json';
  const configFile = fs.existsSync(given) ? given : path.join(SHARED_BENCH, given);
  if (!fs.existsSync(configFile)) throw new Error(`bench:grad-checkpoint: --config ${given} is neither a file nor one of ${SHARED_BENCH}`);
  const reps = Number(values.reps ?? 5);
  const rounds = Number(values.rounds ?? 2);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`bench:grad-checkpoint: --reps must be a positive integer, got ${values.reps}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench:grad-checkpoint: --rounds must be a positive integer, got ${values.rounds}`);
  if (values.backend) setBackend(values.backend);

  if (values.child !== undefined) {
    if (values.child !== 'off' && values.child !== 'on') throw new Error(`bench:grad-checkpoint: --child must be off or on, got ${values.child}`);
    console.log(JSON.stringify(runChild(values.child, configFile, reps, values.lora ?? false)));
    return;
  }

  const name = path.basename(configFile, '.json');
  const forwarded = ['--config', configFile, '--reps', String(reps), ...(values.lora ? ['--lora'] : []), ...(values.backend ? ['--backend', values.backend] : [])];
  const results: ChildResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const mode of ['off', 'on'] as const) {
      const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', mode, ...forwarded], { encoding: 'utf8', maxBuffer: 64 * MB });
      if (child.status !== 0) throw new Error(`bench:grad-checkpoint: the ${mode} child failed (status ${child.status}):\n${child.stderr}`);
      const result = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as ChildResult;
      process.stderr.write(`  round ${round + 1} ${mode}: step ${median(result.stepMs).toFixed(0)} ms, tape ${(result.tapeBytes / MB).toFixed(1)} MB, peak RSS +${(result.peakRssBytes / MB).toFixed(0)} MB\n`);
      results.push(result);
    }
  }

  const summary = (['off', 'on'] as const).map((mode) => {
    const runs = results.filter((r) => r.mode === mode);
    return {
      mode,
      tapeMB: median(runs.map((r) => r.tapeBytes)) / MB,
      peakRssMB: median(runs.map((r) => r.peakRssBytes)) / MB,
      stepMs: median(runs.map((r) => median(r.stepMs))),
      stepMsRange: [Math.min(...runs.flatMap((r) => r.stepMs)), Math.max(...runs.flatMap((r) => r.stepMs))],
    };
  });
  const [off, on] = summary;
  console.log(
    `gradient checkpointing on ${name} (${values.lora ? 'LoRA r 8, every projection' : 'full fine-tuning'}), kernels on ${results[0].backend}; ` +
      `median over ${rounds} round(s) of the median of ${reps} steps after a warm-up`,
  );
  console.log('checkpointing | tape MB at end of forward | peak RSS MB over the steps | step ms (min..max)');
  for (const s of summary) {
    console.log(`${s.mode.padEnd(13)} | ${s.tapeMB.toFixed(1).padStart(25)} | ${s.peakRssMB.toFixed(0).padStart(26)} | ${s.stepMs.toFixed(0)} (${s.stepMsRange.map((v) => v.toFixed(0)).join('..')})`);
  }
  console.log(`on/off: tape ${(on.tapeMB / off.tapeMB).toFixed(2)}x, peak RSS ${(on.peakRssMB / off.peakRssMB).toFixed(2)}x, step time ${(on.stepMs / off.stepMs).toFixed(2)}x`);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ config: name, lora: values.lora ?? false, rounds, reps, summary, results }, null, 2));
}

main();
