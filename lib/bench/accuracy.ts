// `npm run bench:accuracy`: how close our float32 forward (and, on the
// smallest config, the gradients) is to the exact answer, next to how close
// PyTorch's float32 is, on Gemma2's real layer shapes. A benchmark, not a test.
//
//   npm run bench:accuracy -- [--configs 2b,9b,27b] [--layers N] [--exact reference|torch] [--no-torch]
//                             [--backend webasm|cpu] [--json out/accuracy.json] [--check]
//
// The models (lib/bench/accuracy-configs.ts): gemma-2-2b layers x 8, gemma-2-9b
// layers x 4, gemma-2-27b layers x 2 (--layers N: N layers for each), all with
// a vocabulary of 4096 (the real 256000 would make the embedding the largest
// weight of the reduced models and say nothing more about the layers),
// sliding_window 16, softcaps 50 and 30, tied embeddings, pad id 0.
// Weights: seeded random (lib/tensor/random.ts), rounded to bf16, so that the
// float32 and float64 runs start from identical values: Linear and embedding
// weights normal(0, 0.02) (initializer_range); the input, pre-feed-forward and
// final norms normal(0, 0.1) (Gemma multiplies by 1 + w); the post-attention and
// post-feed-forward norms normal(sqrt(D / L) - 1, 0.1) for a stand-in of L
// layers for the real depth D (26, 42, 46), so that the residual stream ends as
// large as after the real depth instead of being dominated by the input token's
// own embedding (which the tied head would turn into a logit of 25-50). Then
// attention scores reach 4-9 (the cap 50 bends them by <= 1%), logits have a
// std of ~1.2 and reach 8-16 before the cap (30 takes 2-9% off the largest),
// and the loss is 9-12. accuracy-configs.ts (realisticScales) has the details.
// Inputs: batch 2, T = 64, seeded random ids in 1..V-1; row 1 is left-padded
// (8 pad ids, attention_mask 0, then 56 tokens); labels = the ids, -100 at pads.
//
// The phases run one after another, each in its own process (this script with
// --phase, or python), so that its memory is returned before the next starts:
//   write      the model as a Hugging Face folder (config.json + BF16 safetensors; two
//              shards with an index for 2b) and the inputs, in a temporary folder under
//              os.tmpdir(), deleted at the end (also on error or Ctrl-C)
//   ours       Gemma2ForCausalLM.fromPretrained + forward in float32 (+ backward for 2b)
//   torch      lib/bench/accuracy-torch.py: a plain-PyTorch Gemma2 (no Transformers)
//              computing as Transformers 4.47's eager Gemma2 does, in float32, then with
//              every op in float64 (+ backward in both for 2b); /usr/bin/python3, 2 threads
//   reference  reference/gemma2.ts in 'float64' precision (every step in float64): the exact answer
//   compare    the output files, read back with lib/io's reader
// For hidden_states.0 .. hidden_states.L (Transformers' convention: .0 the
// scaled embedding, .L after the final norm), the logits and the loss it
// prints max |ours_f32 - exact|, max |torch_f32 - exact| and their ratio, over
// the positions where attention_mask is 1 (golden/FORMAT.md's rule; the loss
// is one number), beside max |exact| for scale. The reference and torch float64 are
// cross-checked on every config (they agree to ~1e-14 relative); --exact torch
// takes torch float64 as the exact answer and skips the reference (which takes
// 2-4 minutes a config on one core, most of the 15-minute run).
// Gradients (2b): for every weight, max |ours_f32 - torch_f64| and
// max |torch_f32 - torch_f64| of the causal-LM loss's gradient (GEMMA2.md
// "Heads and loss"); torch float64 is the exact gradient (the reference has no
// backward), so they need torch.
//
// Without /usr/bin/python3 or torch (or with --no-torch), the torch columns
// print as "-" with a line saying why, the exact answer is the reference's,
// and the gradients are skipped. --check runs the tiny model instead and fails
// (exit 1) unless torch float64 equals the reference to 1e-10 relative and
// both float32 runs are close to it: the check that the torch side is right.
// Progress goes to stderr; the tables to stdout; every number to --json
// (default out/accuracy.json).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tensor } from '../tensor/tensor.ts';
import { Generator } from '../tensor/random.ts';
import { noGrad } from '../autograd/tape.ts';
import { parseGemma2Config } from '../model/config.ts';
import { causalLMWeightShapes } from '../model/weight-shapes.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { openCheckpoint, CONFIG_NAME, INDEX_NAME, SINGLE_WEIGHTS_NAME } from '../io/checkpoint.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors.ts';
import { f32ToBf16 } from '../io/float-formats.ts';
import { referenceGemma2, referenceCausalLMLoss, type RefWeights } from '../../reference/gemma2.ts';
import { describeBackend, setBackend, backend } from '../../kernels/backend.ts';
import { compareTensor } from '../golden/compare.ts';
import { ACCURACY_CONFIGS, TINY_CONFIG, type AccuracyConfig, type WeightScales } from './accuracy-configs.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = path.join(here, 'accuracy-torch.py');
const DEFAULT_JSON = path.join(here, '../../out/accuracy.json');
const TORCH_THREADS = 2;

const progress = (line: string): void => void process.stderr.write(`  ${line}\n`);
const seconds = (start: number): number => (performance.now() - start) / 1000;
const mib = (kib: number): number => kib / 1024;

// ---------------------------------------------------------------------------
// The model folder and the inputs
// ---------------------------------------------------------------------------

/** One weight: normal(mean, std) from the generator, rounded to bf16 (as bits). */
function drawBf16(generator: Generator, length: number, mean: number, std: number): Uint16Array {
  const bits = new Uint16Array(length);
  const chunk = new Float32Array(Math.min(length, 1 << 20));
  for (let start = 0; start < length; start += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, length - start));
    for (let i = 0; i < part.length; i++) part[i] = mean + std * generator.nextNormal();
    f32ToBf16(part, bits.subarray(start, start + part.length));
  }
  return bits;
}

function scaleOf(name: string, scales: WeightScales): { mean: number; std: number } {
  if (name === 'model.norm.weight') return scales.finalNorm;
  if (/\.(post_attention|post_feedforward)_layernorm\.weight$/.test(name)) return scales.postNorm;
  if (name.endsWith('layernorm.weight')) return scales.preNorm;
  if (name === 'model.embed_tokens.weight') return scales.embedding;
  return scales.linear;
}

/**
 * Writes `spec` as a Hugging Face folder: config.json and BF16 weights in
 * spec.shards files (model.safetensors, or model-0000i-of-0000N.safetensors and
 * model.safetensors.index.json). One shard's weights are in memory at a time.
 */
function writeModelFolder(spec: AccuracyConfig, dir: string): { parameters: number; bytes: number; files: string[] } {
  const config = parseGemma2Config(spec.config);
  const shapes = causalLMWeightShapes(config);
  const scales = spec.scales(config.numHiddenLayers);
  const sizes = shapes.map(([, shape]) => shape.reduce((n, d) => n * d, 1));
  const parameters = sizes.reduce((a, b) => a + b, 0);
  // consecutive weights, cut where the running total passes each 1/shards of the whole
  const shardOf: number[] = [];
  let running = 0;
  for (const size of sizes) {
    shardOf.push(Math.min(spec.shards - 1, Math.floor((running * spec.shards) / parameters)));
    running += size;
  }
  const count = Math.max(...shardOf) + 1;
  const pad = (n: number) => String(n).padStart(5, '0');
  const files = count === 1 ? [SINGLE_WEIGHTS_NAME] : Array.from({ length: count }, (_, i) => `model-${pad(i + 1)}-of-${pad(count)}.safetensors`);
  fs.mkdirSync(dir, { recursive: true });
  const generator = new Generator(spec.seed);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < count; s++) {
    const tensors: TensorToWrite[] = [];
    shapes.forEach(([name, shape], i) => {
      if (shardOf[i] !== s) return;
      const { mean, std } = scaleOf(name, scales);
      tensors.push({ name, dtype: 'BF16', shape, data: drawBf16(generator, sizes[i], mean, std) });
      weightMap[name] = files[s];
    });
    writeSafetensors(path.join(dir, files[s]), tensors, { format: 'pt' });
  }
  if (count > 1) fs.writeFileSync(path.join(dir, INDEX_NAME), `${JSON.stringify({ metadata: { total_size: parameters * 2 }, weight_map: weightMap }, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, CONFIG_NAME), `${JSON.stringify(spec.config, null, 2)}\n`);
  return { parameters, bytes: parameters * 2, files };
}

interface Inputs {
  batch: number;
  seq: number;
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
}

/** Seeded ids in 1..V-1 (never the pad id), row 1 left-padded; labels = ids with -100 at pads. */
function makeInputs(spec: AccuracyConfig): Inputs {
  const vocab = spec.config.vocab_size as number;
  const padId = spec.config.pad_token_id as number;
  const generator = new Generator(spec.seed + 1);
  const isPad = (b: number, t: number) => b === 1 && t < spec.leftPad;
  const rows = (f: (b: number, t: number) => number) => Array.from({ length: spec.batch }, (_, b) => Array.from({ length: spec.seq }, (_, t) => f(b, t)));
  const inputIds = rows((b, t) => (isPad(b, t) ? padId : 1 + generator.nextInt(vocab - 1)));
  if (inputIds.flat().some((id, i) => id === padId && !isPad(Math.floor(i / spec.seq), i % spec.seq))) throw new Error('bench:accuracy: a real token is the pad id');
  return {
    batch: spec.batch,
    seq: spec.seq,
    inputIds,
    attentionMask: rows((b, t) => (isPad(b, t) ? 0 : 1)),
    labels: rows((b, t) => (isPad(b, t) ? -100 : inputIds[b][t])),
  };
}

const INPUT_NAMES = { inputIds: 'input_ids', attentionMask: 'attention_mask', labels: 'labels' } as const;

function writeInputs(file: string, inputs: Inputs): void {
  writeSafetensors(
    file,
    Object.entries(INPUT_NAMES).map(([key, name]) => ({ name, dtype: 'I32', shape: [inputs.batch, inputs.seq], data: Int32Array.from(inputs[key as keyof typeof INPUT_NAMES].flat()) })),
    { format: 'pt' },
  );
}

function readInputs(file: string): Inputs {
  const f = SafetensorsFile.open(file);
  try {
    const [batch, seq] = f.info('input_ids').shape;
    const rows = (name: string) => {
      const data = f.readInt32(name);
      return Array.from({ length: batch }, (_, b) => Array.from(data.subarray(b * seq, (b + 1) * seq)));
    };
    return { batch, seq, inputIds: rows('input_ids'), attentionMask: rows('attention_mask'), labels: rows('labels') };
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------
// Phases, each in its own process (bench:accuracy --phase <phase> --job <json> --report <file>)
// ---------------------------------------------------------------------------

type Phase = 'write' | 'ours' | 'reference' | 'compare';

interface WriteJob {
  config: string;
  layers?: number;
  modelDir: string;
  inputsFile: string;
}

interface WriteReport {
  parameters: number;
  bytes: number;
  files: string[];
  seconds: number;
}

function phaseWrite(job: WriteJob): WriteReport {
  const start = performance.now();
  const spec = findSpec(job.config, job.layers);
  const folder = writeModelFolder(spec, job.modelDir);
  writeInputs(job.inputsFile, makeInputs(spec));
  return { ...folder, seconds: seconds(start) };
}

interface ModelJob {
  modelDir: string;
  inputsFile: string;
  outFile: string;
  grads?: boolean;
}

interface PhaseReport {
  seconds: Record<string, number>;
  maxRssMiB: number;
  loss: number;
}

const outputName = (i: number) => `hidden_states.${i}`;

/** Our float32 forward (and backward with grads) from the folder; writes F32 outputs and grad.<name>. */
function phaseOurs({ modelDir, inputsFile, outFile, grads = false }: ModelJob): PhaseReport {
  const times: Record<string, number> = {};
  let start = performance.now();
  // float32 weights when taking their gradients (a bf16 checkpoint kept in bf16 is read-only); the forward is the same bits either way
  const model = Gemma2ForCausalLM.fromPretrained(modelDir, { weightDtype: grads ? 'float32' : 'auto' });
  times.load = seconds(start);
  const inputs = readInputs(inputsFile);
  const asTensor = (rows: number[][]) => Tensor.fromData(Int32Array.from(rows.flat()), [inputs.batch, inputs.seq]);
  const parameters = model.namedParameters();
  if (grads) for (const [, p] of parameters) p.requireGrad();
  progress(`ours float32 forward${grads ? ' + backward' : ''} (${describeBackend()})...`);
  start = performance.now();
  const run = () =>
    model.forward({ inputIds: asTensor(inputs.inputIds), attentionMask: asTensor(inputs.attentionMask), labels: asTensor(inputs.labels), outputHiddenStates: true });
  const out = grads ? run() : noGrad(run);
  const loss = out.loss!.item();
  times.forward = seconds(start);
  if (grads) {
    start = performance.now();
    out.loss!.backward();
    times.backward = seconds(start);
  }
  start = performance.now();
  const f32 = (t: Tensor) => t.contiguousData() as Float32Array;
  const tensors: TensorToWrite[] = out.hiddenStates!.map((h, i) => ({ name: outputName(i), dtype: 'F32', shape: h.shape, data: f32(h) }));
  tensors.push({ name: 'logits', dtype: 'F32', shape: out.logits.shape, data: f32(out.logits) });
  tensors.push({ name: 'loss', dtype: 'F32', shape: [1], data: Float32Array.of(loss) });
  if (grads) for (const [name, p] of parameters) tensors.push({ name: `grad.${name}`, dtype: 'F32', shape: p.shape, data: f32(p.grad!) });
  writeSafetensors(outFile, tensors, { format: 'pt' });
  times.write = seconds(start);
  return { seconds: times, maxRssMiB: mib(process.resourceUsage().maxRSS), loss };
}

/** reference/gemma2.ts in 'float64' precision; writes F64 outputs. */
function phaseReference({ modelDir, inputsFile, outFile }: ModelJob): PhaseReport {
  const times: Record<string, number> = {};
  let start = performance.now();
  const checkpoint = openCheckpoint(modelDir);
  const config = parseGemma2Config(checkpoint.config);
  const weights: RefWeights = new Map();
  try {
    for (const name of checkpoint.names()) weights.set(name, { shape: [...checkpoint.info(name).shape], data: new Float64Array(checkpoint.readFloat32(name)) });
  } finally {
    checkpoint.close();
  }
  times.load = seconds(start);
  const inputs = readInputs(inputsFile);
  progress(`reference float64 forward (plain loops, one thread)...`);
  start = performance.now();
  const out = referenceGemma2(config, weights, { inputIds: inputs.inputIds, attentionMask: inputs.attentionMask }, { precision: 'float64' });
  const loss = referenceCausalLMLoss(out.logits, config.vocabSize, inputs.labels, { precision: 'float64' });
  times.forward = seconds(start);
  start = performance.now();
  const [B, T, H, V] = [inputs.batch, inputs.seq, config.hiddenSize, config.vocabSize];
  const tensors: TensorToWrite[] = out.hiddenStates.map((h, i) => ({ name: outputName(i), dtype: 'F64', shape: [B, T, H], data: h }));
  tensors.push({ name: 'logits', dtype: 'F64', shape: [B, T, V], data: out.logits });
  tensors.push({ name: 'loss', dtype: 'F64', shape: [1], data: Float64Array.of(loss) });
  writeSafetensors(outFile, tensors, { format: 'pt' });
  times.write = seconds(start);
  return { seconds: times, maxRssMiB: mib(process.resourceUsage().maxRSS), loss };
}

// ---- running the phases: child processes, awaited, so that a Ctrl-C can stop the one running and clean up

/** Thrown once SIGINT or SIGTERM has arrived: the running child was stopped. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`bench:accuracy: stopped by ${signal}`);
  }
}

let runningChild: ChildProcess | null = null;
let interruptedBy: NodeJS.Signals | null = null;

/** Runs a command to completion; resolves with its stdout when `captureStdout` (else it goes to our stderr). */
function runProcess(what: string, command: string, args: string[], captureStdout = false): Promise<string> {
  if (interruptedBy !== null) return Promise.reject(new Interrupted(interruptedBy));
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', captureStdout ? 'pipe' : 2, 2] });
    runningChild = child;
    let stdout = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => void (stdout += chunk));
    child.on('error', (error) => {
      runningChild = null;
      reject(error);
    });
    child.on('close', (code, signal) => {
      runningChild = null;
      if (interruptedBy !== null) reject(new Interrupted(interruptedBy));
      else if (code !== 0) reject(new Error(`bench:accuracy: ${what} failed (${code === null ? `signal ${signal}` : `exit ${code}`}; see above)`));
      else resolve(stdout);
    });
  });
}

/** Runs a phase of this script in a child process (its memory is returned when it exits) and returns its report. */
async function runPhase<R>(phase: Phase, job: unknown, reportFile: string, backend?: string): Promise<R> {
  const args = [...process.execArgv, SELF, '--phase', phase, '--job', JSON.stringify(job), '--report', reportFile, ...(backend ? ['--backend', backend] : [])];
  await runProcess(`the ${phase} phase`, process.execPath, args);
  return JSON.parse(fs.readFileSync(reportFile, 'utf8')) as R;
}

interface TorchReport {
  torch: string;
  threads: number;
  runs: Record<'float32' | 'float64', { load_s: number; forward_s: number; backward_s?: number; write_s: number; loss: number }>;
  max_rss_mib: number;
  seconds: number;
}

/** Why torch cannot run, or null when it can. */
function torchUnavailable(): string | null {
  if (!fs.existsSync(PYTHON)) return `no ${PYTHON}`;
  if (spawnSync(PYTHON, ['-c', 'import torch, numpy']).status !== 0) return 'torch is not installed (apt-get install python3-torch libopenblas0-pthread)';
  return null;
}

async function runTorch(modelDir: string, inputsFile: string, outPrefix: string, grads: boolean): Promise<TorchReport> {
  const start = performance.now();
  const args = [TORCH_SCRIPT, '--model', modelDir, '--inputs', inputsFile, '--out', outPrefix, '--precisions', 'float32,float64', '--threads', String(TORCH_THREADS)];
  if (grads) args.push('--grads');
  progress(`torch float32 and float64${grads ? ', forward + backward' : ''} (${TORCH_THREADS} threads)...`);
  const stdout = await runProcess(TORCH_SCRIPT, PYTHON, args, true);
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as TorchReport;
  return { ...report, seconds: seconds(start) };
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/** A tensor of an output file in float64, with its shape. */
function readTensor(file: SafetensorsFile, name: string): { shape: number[]; data: Float64Array } {
  return { shape: [...file.info(name).shape], data: file.readFloat64(name) };
}

/**
 * max |actual - exact| and max |exact| over the positions where the [B, T]
 * mask is 1 (all of them without one): golden/FORMAT.md's comparison, as
 * lib/golden/compare.ts makes it (with atol 0 and rtol 1 its bound is max |exact|).
 * A shape mismatch or a non-finite value where the exact one differs is an infinite error.
 */
function errorAgainst(actual: { shape: number[]; data: Float64Array }, exact: { shape: number[]; data: Float64Array }, name: string, mask?: { shape: number[]; data: number[] }) {
  const c = compareTensor(name, actual, exact, { atol: 0, rtol: 1 }, mask);
  return { error: c.maxError, exactMax: c.bound };
}

interface ErrorRow {
  name: string;
  /** max |exact| over the compared entries: the scale. */
  exactMax: number;
  ours: number;
  torch: number | null;
  /** ours / torch */
  ratio: number | null;
}

interface CrossCheckRow {
  name: string;
  maxAbs: number;
  relative: number;
}

/** Outputs files by role; null when that run did not happen. */
interface RunFiles {
  ours: string;
  exact: string;
  torch32: string | null;
  /** The second float64 answer, for the cross-check (torch float64 when the exact one is the reference's). */
  other64: string | null;
}

function ratioOf(ours: number, torch: number | null): number | null {
  return torch === null || torch === 0 ? null : ours / torch;
}

function compareOutputs(files: RunFiles, names: string[], mask: { shape: number[]; data: number[] }): { rows: ErrorRow[]; crossCheck: CrossCheckRow[] } {
  const open = (file: string | null) => (file === null ? null : SafetensorsFile.open(file));
  const [ours, exact, torch32, other64] = [open(files.ours)!, open(files.exact)!, open(files.torch32), open(files.other64)];
  try {
    const rows: ErrorRow[] = [];
    const crossCheck: CrossCheckRow[] = [];
    for (const name of names) {
      const rowMask = name === 'loss' ? undefined : mask;
      const e = readTensor(exact, name);
      const { error: oursErr, exactMax } = errorAgainst(readTensor(ours, name), e, name, rowMask);
      const torchErr = torch32 === null ? null : errorAgainst(readTensor(torch32, name), e, name, rowMask).error;
      rows.push({ name, exactMax, ours: oursErr, torch: torchErr, ratio: ratioOf(oursErr, torchErr) });
      if (other64 !== null) {
        const maxAbs = errorAgainst(readTensor(other64, name), e, name, rowMask).error;
        crossCheck.push({ name, maxAbs, relative: maxAbs / exactMax });
      }
    }
    return { rows, crossCheck };
  } finally {
    for (const f of [ours, exact, torch32, other64]) f?.close();
  }
}

/** Per weight: our and torch's float32 gradient against torch's float64 one (every entry). */
function compareGrads(oursFile: string, torch32File: string, torch64File: string): ErrorRow[] {
  const [ours, torch32, torch64] = [oursFile, torch32File, torch64File].map((f) => SafetensorsFile.open(f));
  try {
    return ours
      .names()
      .filter((n) => n.startsWith('grad.'))
      .map((name) => {
        const e = readTensor(torch64, name);
        const { error: oursErr, exactMax } = errorAgainst(readTensor(ours, name), e, name);
        const torchErr = errorAgainst(readTensor(torch32, name), e, name).error;
        return { name: name.slice('grad.'.length), exactMax, ours: oursErr, torch: torchErr, ratio: ratioOf(oursErr, torchErr) };
      });
  } finally {
    for (const f of [ours, torch32, torch64]) f.close();
  }
}

interface CompareJob {
  files: RunFiles;
  inputsFile: string;
  layers: number;
  /** Gradients: ours, torch float32, torch float64 (the exact one). */
  grads: { ours: string; torch32: string; torch64: string } | null;
}

interface CompareReport {
  outputs: ErrorRow[];
  crossCheck: CrossCheckRow[];
  grads: ErrorRow[] | null;
  seconds: number;
}

function phaseCompare(job: CompareJob): CompareReport {
  const start = performance.now();
  const names = [...Array.from({ length: job.layers + 1 }, (_, i) => outputName(i)), 'logits', 'loss'];
  const inputs = readInputs(job.inputsFile);
  const { rows, crossCheck } = compareOutputs(job.files, names, { shape: [inputs.batch, inputs.seq], data: inputs.attentionMask.flat() });
  const grads = job.grads === null ? null : compareGrads(job.grads.ours, job.grads.torch32, job.grads.torch64);
  return { outputs: rows, crossCheck, grads, seconds: seconds(start) };
}

// ---------------------------------------------------------------------------
// One config
// ---------------------------------------------------------------------------

interface ConfigResult {
  name: string;
  description: string;
  config: Record<string, unknown>;
  scales: WeightScales;
  parameters: number;
  checkpointFiles: string[];
  batch: number;
  seq: number;
  leftPad: number;
  exact: 'reference float64' | 'torch float64';
  torch: string | null;
  outputs: ErrorRow[];
  crossCheck: { against: string; rows: CrossCheckRow[] } | null;
  grads: ErrorRow[] | null;
  gradsNote: string | null;
  loss: Record<string, number>;
  seconds: Record<string, number>;
  peakRssMiB: Record<string, number>;
}

interface RunOptions {
  exact: 'reference' | 'torch';
  torchProblem: string | null;
  backend: string | undefined;
}

async function runConfig(spec: AccuracyConfig, root: string, options: RunOptions): Promise<ConfigResult> {
  const work = path.join(root, spec.name);
  const modelDir = path.join(work, 'model');
  const inputsFile = path.join(work, 'inputs.safetensors');
  const L = parseGemma2Config(spec.config).numHiddenLayers;
  const times: Record<string, number> = {};
  const peak: Record<string, number> = {};
  const loss: Record<string, number> = {};
  const total = performance.now();
  fs.mkdirSync(work, { recursive: true });
  try {
    progress(`${spec.name}: writing the model folder (${spec.shards} file(s), BF16)...`);
    const writeJob: WriteJob = { config: spec.name, layers: L, modelDir, inputsFile };
    const folder = await runPhase<WriteReport>('write', writeJob, path.join(work, 'write.json'));
    times.write_model = folder.seconds;
    progress(`${spec.name}: ${(folder.parameters / 1e6).toFixed(1)}M parameters, ${(folder.bytes / 2 ** 20).toFixed(0)} MiB in ${folder.files.join(', ')} (${times.write_model.toFixed(1)} s)`);

    const oursFile = path.join(work, 'ours.safetensors');
    const wantGrads = spec.grads && options.torchProblem === null;
    const oursJob: ModelJob = { modelDir, inputsFile, outFile: oursFile, grads: wantGrads };
    const ours = await runPhase<PhaseReport>('ours', oursJob, path.join(work, 'ours.json'), options.backend);
    times.ours = Object.values(ours.seconds).reduce((a, b) => a + b, 0);
    for (const [k, v] of Object.entries(ours.seconds)) times[`ours_${k}`] = v;
    peak.ours = ours.maxRssMiB;
    loss.ours = ours.loss;

    let torch: TorchReport | null = null;
    if (options.torchProblem === null) {
      torch = await runTorch(modelDir, inputsFile, path.join(work, 'torch'), wantGrads);
      times.torch = torch.seconds;
      for (const p of ['float32', 'float64'] as const) {
        for (const [k, v] of Object.entries(torch.runs[p])) if (k.endsWith('_s')) times[`torch_${p}_${k.slice(0, -2)}`] = v as number;
        loss[`torch_${p}`] = torch.runs[p].loss;
      }
      peak.torch = torch.max_rss_mib;
    }
    const torch32 = torch === null ? null : path.join(work, 'torch-float32.safetensors');
    const torch64 = torch === null ? null : path.join(work, 'torch-float64.safetensors');

    const useReference = options.exact === 'reference' || torch === null;
    let referenceFile: string | null = null;
    if (useReference) {
      referenceFile = path.join(work, 'reference.safetensors');
      const referenceJob: ModelJob = { modelDir, inputsFile, outFile: referenceFile };
      const reference = await runPhase<PhaseReport>('reference', referenceJob, path.join(work, 'reference.json'));
      for (const [k, v] of Object.entries(reference.seconds)) times[`reference_${k}`] = v;
      times.reference = Object.values(reference.seconds).reduce((a, b) => a + b, 0);
      peak.reference = reference.maxRssMiB;
      loss.reference = reference.loss;
    }

    progress(`${spec.name}: comparing...`);
    const compareJob: CompareJob = {
      files: { ours: oursFile, exact: referenceFile ?? torch64!, torch32, other64: referenceFile === null ? null : torch64 },
      inputsFile,
      layers: L,
      grads: wantGrads ? { ours: oursFile, torch32: torch32!, torch64: torch64! } : null,
    };
    const compared = await runPhase<CompareReport>('compare', compareJob, path.join(work, 'compare.json'));
    times.compare = compared.seconds;
    times.total = seconds(total);
    return {
      name: spec.name,
      description: spec.description,
      config: spec.config,
      scales: spec.scales(L),
      parameters: folder.parameters,
      checkpointFiles: folder.files,
      batch: spec.batch,
      seq: spec.seq,
      leftPad: spec.leftPad,
      exact: useReference ? 'reference float64' : 'torch float64',
      torch: torch === null ? null : `torch ${torch.torch}, ${torch.threads} threads`,
      outputs: compared.outputs,
      crossCheck: referenceFile !== null && torch64 !== null ? { against: 'torch float64', rows: compared.crossCheck } : null,
      grads: compared.grads,
      gradsNote: spec.grads && !wantGrads ? `gradients: not compared, their exact answer is torch float64 (torch: ${options.torchProblem})` : null,
      loss,
      seconds: times,
      peakRssMiB: peak,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

const sci = (v: number | null) => (v === null ? '-' : v === 0 ? '0' : v.toExponential(2));
const ratioText = (r: ErrorRow) => (r.torch === null ? '-' : r.ratio === null ? (r.ours === 0 ? '(both 0)' : 'inf') : r.ratio.toFixed(2));

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  console.log(header.map((h, i) => (i === 0 ? h.padEnd(widths[i]) : h.padStart(widths[i]))).join('  '));
  for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

function errorTable(rows: ErrorRow[]): void {
  printTable(
    ['', 'max |exact|', 'ours f32 - exact', 'torch f32 - exact', 'ours/torch'],
    rows.map((r) => [r.name, sci(r.exactMax), sci(r.ours), sci(r.torch), ratioText(r)]),
  );
}

function range(values: number[]): string {
  if (values.length === 0) return '-';
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  return `median ${median.toFixed(2)}, ${sorted[0].toFixed(2)}..${sorted[sorted.length - 1].toFixed(2)}`;
}

function printConfig(r: ConfigResult, torchProblem: string | null): void {
  const c = r.config;
  console.log('');
  console.log(
    `== ${r.name} (${r.description}): hidden ${c.hidden_size}, intermediate ${c.intermediate_size}, ${c.num_attention_heads} heads / ${c.num_key_value_heads} kv, head_dim ${c.head_dim}, ` +
      `query_pre_attn_scalar ${c.query_pre_attn_scalar}, ${c.num_hidden_layers} layers, vocab ${c.vocab_size}, window ${c.sliding_window}; ${(r.parameters / 1e6).toFixed(r.parameters < 1e7 ? 2 : 0)}M parameters (BF16, ${r.checkpointFiles.length} file(s))`,
  );
  const sc = r.scales;
  const normal = (d: { mean: number; std: number }) => `N(${+d.mean.toFixed(3)}, ${d.std})`;
  console.log(`   weights: linear ${normal(sc.linear)}, embedding ${normal(sc.embedding)}, input/pre-ff norms ${normal(sc.preNorm)}, post-attn/post-ff norms ${normal(sc.postNorm)}, final norm ${normal(sc.finalNorm)}`);
  console.log(`   inputs B=${r.batch} T=${r.seq}, row 1 left-padded with ${r.leftPad} pads; compared where attention_mask = 1; exact answer: ${r.exact === 'reference float64' ? "reference/gemma2.ts, precision 'float64'" : 'torch float64 (every op float64; --exact torch)'}`);
  errorTable(r.outputs);
  if (r.torch === null) console.log(`   torch columns: ${torchProblem}`);
  // hidden_states.0 (embedding * sqrt(H) in float32) is one rounding, the same in both
  const hidden = r.outputs.filter((o) => o.name.startsWith('hidden_states.') && o.name !== outputName(0) && o.ratio !== null).map((o) => o.ratio!);
  const byName = (n: string) => r.outputs.find((o) => o.name === n)!;
  if (r.torch !== null) console.log(`   ours/torch: hidden states 1..L ${range(hidden)}; logits ${ratioText(byName('logits'))}; loss ${ratioText(byName('loss'))}`);
  if (r.crossCheck !== null) {
    const worst = r.crossCheck.rows.reduce((a, b) => (b.relative > a.relative ? b : a));
    const at = (n: string) => r.crossCheck!.rows.find((x) => x.name === n)!;
    console.log(
      `   exact cross-check, reference float64 vs ${r.crossCheck.against}: max |diff| / max |exact| ${sci(worst.relative)} (worst ${worst.name}, |diff| ${sci(worst.maxAbs)}); ` +
        `logits |diff| ${sci(at('logits').maxAbs)}, loss |diff| ${sci(at('loss').maxAbs)}`,
    );
  }
  if (r.grads !== null) {
    console.log('');
    console.log(`   gradients of the loss, every weight, against torch float64 (every entry):`);
    errorTable(r.grads);
    console.log(`   ours/torch: gradients ${range(r.grads.filter((g) => g.ratio !== null).map((g) => g.ratio!))}`);
  }
  if (r.gradsNote !== null) console.log(`   ${r.gradsNote}`);
  const s = r.seconds;
  const part = (label: string, key: string) => (s[key] === undefined ? [] : [`${label} ${s[key].toFixed(1)} s`]);
  const oursDetail = `load ${s.ours_load.toFixed(1)}, forward ${s.ours_forward.toFixed(1)}${s.ours_backward === undefined ? '' : `, backward ${s.ours_backward.toFixed(1)}`}`;
  const torchDetail =
    s.torch === undefined
      ? ''
      : ` (f32 forward ${s.torch_float32_forward.toFixed(1)}${s.torch_float32_backward === undefined ? '' : ` + backward ${s.torch_float32_backward.toFixed(1)}`}, f64 forward ${s.torch_float64_forward.toFixed(1)}${s.torch_float64_backward === undefined ? '' : ` + backward ${s.torch_float64_backward.toFixed(1)}`})`;
  console.log(
    `   time: ${[
      ...part('write model', 'write_model'),
      `ours ${s.ours.toFixed(1)} s (${oursDetail})`,
      ...(s.torch === undefined ? [] : [`torch ${s.torch.toFixed(1)} s${torchDetail}`]),
      ...(s.reference === undefined ? [] : [`reference ${s.reference.toFixed(1)} s (forward ${s.reference_forward.toFixed(1)})`]),
      ...part('compare', 'compare'),
      ...part('total', 'total'),
    ].join(', ')}`,
  );
  console.log(`   peak RSS: ${Object.entries(r.peakRssMiB).map(([k, v]) => `${k} ${(v / 1024).toFixed(2)} GiB`).join(', ')}`);
}

// ---------------------------------------------------------------------------
// --check: the torch side against the reference on the tiny model
// ---------------------------------------------------------------------------

function checkResult(r: ConfigResult): string[] {
  const failures: string[] = [];
  if (r.crossCheck === null) return ['no cross-check ran (torch and the reference are both needed)'];
  for (const x of r.crossCheck.rows) if (!(x.relative <= 1e-10)) failures.push(`torch float64 vs reference, ${x.name}: ${sci(x.relative)} relative > 1e-10`);
  for (const o of r.outputs) {
    for (const [who, err] of [['ours', o.ours], ['torch', o.torch]] as const) {
      if (!(err! / o.exactMax <= 1e-4)) failures.push(`${who} float32 vs exact, ${o.name}: ${sci(err! / o.exactMax)} relative > 1e-4`);
    }
  }
  for (const g of r.grads ?? []) {
    for (const [who, err] of [['ours', g.ours], ['torch', g.torch]] as const) {
      if (!(err! <= 1e-3 * g.exactMax)) failures.push(`${who} float32 gradient of ${g.name}: ${sci(err! / g.exactMax)} relative > 1e-3`);
    }
  }
  if (r.grads === null) failures.push('no gradients compared');
  return failures;
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

/** The config of that name (with --layers applied). */
function findSpec(name: string, layers?: number): AccuracyConfig {
  const known = [...ACCURACY_CONFIGS, TINY_CONFIG];
  const spec = known.find((c) => c.name === name);
  if (spec === undefined) throw new Error(`bench:accuracy: unknown config ${name} (known: ${known.map((c) => c.name).join(', ')})`);
  return layers === undefined ? spec : { ...spec, config: { ...spec.config, num_hidden_layers: layers } };
}

function runChildPhase(phase: string, job: unknown, reportFile: string): void {
  const report =
    phase === 'write'
      ? phaseWrite(job as WriteJob)
      : phase === 'ours'
        ? phaseOurs(job as ModelJob)
        : phase === 'reference'
          ? phaseReference(job as ModelJob)
          : phase === 'compare'
            ? phaseCompare(job as CompareJob)
            : null;
  if (report === null) throw new Error(`bench:accuracy: unknown --phase ${phase}`);
  fs.writeFileSync(reportFile, JSON.stringify(report));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      configs: { type: 'string' },
      layers: { type: 'string' },
      exact: { type: 'string' },
      'no-torch': { type: 'boolean' },
      backend: { type: 'string' },
      json: { type: 'string' },
      check: { type: 'boolean' },
      // the child processes
      phase: { type: 'string' },
      job: { type: 'string' },
      report: { type: 'string' },
    },
  });
  if (values.backend) setBackend(values.backend);
  if (values.phase !== undefined) return runChildPhase(values.phase, JSON.parse(values.job!), values.report!);

  const exact = (values.exact ?? 'reference') as RunOptions['exact'];
  if (exact !== 'reference' && exact !== 'torch') throw new Error(`bench:accuracy: --exact is reference or torch, not ${values.exact}`);
  let layers: number | undefined;
  if (values.layers !== undefined) {
    layers = Number(values.layers);
    if (!Number.isInteger(layers) || layers < 1) throw new Error(`bench:accuracy: --layers is a positive integer, not ${values.layers}`);
  }
  const names = values.check ? [TINY_CONFIG.name] : values.configs ? values.configs.split(',') : ACCURACY_CONFIGS.map((c) => c.name);
  const specs = names.map((name) => findSpec(name, layers));
  const torchProblem = values['no-torch'] ? 'skipped (--no-torch)' : torchUnavailable();
  if (values.check && torchProblem !== null) throw new Error(`bench:accuracy --check needs torch: ${torchProblem}`);
  const options: RunOptions = { exact: values.check ? 'reference' : exact, torchProblem, backend: values.backend };

  console.log(`gemma2-ts bench:accuracy: ours on ${describeBackend()}; errors are max |x - exact| over the positions with attention_mask 1`);
  if (torchProblem !== null) console.log(`torch: ${torchProblem}; its columns print as "-"`);

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gemma2-accuracy-'));
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });
  // Ctrl-C or SIGTERM: stop the running phase; runConfig's finally and ours below delete the folder.
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy !== null) return;
    interruptedBy = signal;
    progress(`${signal}: stopping`);
    if (runningChild !== null) runningChild.kill('SIGTERM');
    else {
      cleanup();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results: ConfigResult[] = [];
  const start = performance.now();
  try {
    for (const spec of specs) {
      const result = await runConfig(spec, root, options);
      results.push(result);
      printConfig(result, torchProblem);
    }
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    process.exitCode = error.signal === 'SIGINT' ? 130 : 143;
    return;
  } finally {
    cleanup();
  }
  const totalSeconds = seconds(start);
  console.log('');
  console.log(`total ${totalSeconds.toFixed(0)} s (${results.map((r) => `${r.name} ${r.seconds.total.toFixed(0)} s`).join(', ')})`);

  const jsonFile = values.json ?? DEFAULT_JSON;
  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  fs.writeFileSync(jsonFile, JSON.stringify({ backend: describeBackend(), kernels: backend().path, threads: backend().threads, torch: torchProblem ?? results[0]?.torch ?? null, totalSeconds, configs: results }, null, 1));
  console.log(`wrote ${jsonFile}`);

  if (values.check) {
    const failures = checkResult(results[0]);
    if (failures.length > 0) {
      console.log(`check FAILED:\n  ${failures.join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.log('check passed: torch float64 = reference float64 to 1e-10 relative; ours and torch float32 within 1e-4 of it; float32 gradients within 1e-3 of torch float64');
    }
  }
}

await main();
