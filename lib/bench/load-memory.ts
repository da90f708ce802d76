// `npm run bench:load-memory`: how much memory loading a sharded BF16
// checkpoint takes, against the weights it produces, in both modes: kept in
// bf16 as stored (the default, fromPretrained(dir)) and forced to float32
// (fromPretrained(dir, { weightDtype: 'float32' })). Loading must not hold a
// file's bytes and copies of whole tensors at once: weights are read tensor by
// tensor straight into the model's own storage (BF16 bytes as they are, or
// widened to float32 in 16 MB chunks), so the peak should be the weights as
// held plus a small margin.
//
//   npm run bench:load-memory -- [--dir DIR] [--layers 26] [--vocab 256000] [--hidden 2304] [--intermediate 9216] [--modes bfloat16,float32]
//
// Without a config flag it builds gemma-2-2b's shapes (2.6B parameters, 5.2 GB
// of BF16 in 5 GB shards, as Transformers saves them) in DIR with random
// values, then loads it in a fresh process per mode and reports that
// process's peak resident set size (getrusage maxrss) above its size before
// loading.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSafetensors } from '../io/safetensors.ts';
import { f32ToBf16 } from '../io/float-formats.ts';
import { Generator } from '../tensor/random.ts';
import { parseGemma2Config, gemma2ConfigToJson } from '../model/config.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { causalLMWeightShapes } from '../model/weight-shapes.ts';
import { residentBytes } from '../../kernels/wasm/memory.ts';

const MB = 1024 * 1024;

/** Writes a BF16 checkpoint shard by shard (never more than one tensor in float32 at a time). */
export function writeSyntheticCheckpoint(dir: string, configJson: Record<string, unknown>, maxShardBytes = 5e9): { parameters: number; files: number } {
  const config = parseGemma2Config(configJson);
  const shapes = causalLMWeightShapes(config);
  const generator = new Generator(1);
  const shards: [string, number[]][][] = [[]];
  let bytes = 0;
  for (const entry of shapes) {
    const size = entry[1].reduce((a, b) => a * b, 1) * 2;
    if (bytes + size > maxShardBytes && shards[shards.length - 1].length > 0) {
      shards.push([]);
      bytes = 0;
    }
    shards[shards.length - 1].push(entry);
    bytes += size;
  }
  fs.mkdirSync(dir, { recursive: true });
  const name = (i: number) => (shards.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  let parameters = 0;
  shards.forEach((shard, i) => {
    const tensors = shard.map(([tensorName, shape]) => {
      const count = shape.reduce((a, b) => a * b, 1);
      parameters += count;
      weightMap[tensorName] = name(i);
      const values = new Float32Array(Math.min(count, 1 << 20)).map(() => 0.02 * generator.nextNormal());
      const bits = new Uint16Array(count);
      const pattern = f32ToBf16(values);
      for (let at = 0; at < count; at += pattern.length) bits.set(pattern.subarray(0, Math.min(pattern.length, count - at)), at);
      return { name: tensorName, dtype: 'BF16' as const, shape, data: bits };
    });
    writeSafetensors(path.join(dir, name(i)), tensors, { format: 'pt' });
  });
  if (shards.length > 1) {
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: parameters * 2 }, weight_map: weightMap }, null, 2));
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...configJson, torch_dtype: 'bfloat16' }, null, 2));
  return { parameters, files: shards.length };
}

/** How the weights are held: kept in bf16 as the checkpoint stores them (the default load), or forced to float32. */
export type LoadMode = 'bfloat16' | 'float32';

export interface LoadMeasurement {
  mode: LoadMode;
  parameters: number;
  float32Bytes: number;
  /** Bytes of the weights as the model holds them (2 per bf16 element, 4 per float32 one). */
  heldBytes: number;
  /** Of those, bytes inside the CPU path's wasm memory (the resident budget). */
  residentBytes: number;
  rssBeforeBytes: number;
  peakRssBytes: number;
  seconds: number;
}

/** In this process: load `dir` and measure (call in a fresh process for a clean peak). */
function measureLoad(dir: string, mode: LoadMode): LoadMeasurement {
  const rssBeforeBytes = process.memoryUsage().rss;
  const started = performance.now();
  const model = Gemma2ForCausalLM.fromPretrained(dir, { weightDtype: mode === 'float32' ? 'float32' : 'auto' });
  const seconds = (performance.now() - started) / 1000;
  const named = model.namedParameters();
  const parameters = named.reduce((n, [, p]) => n + p.size, 0);
  const heldBytes = named.reduce((n, [, p]) => n + p.contiguousData().byteLength, 0);
  return { mode, parameters, float32Bytes: parameters * 4, heldBytes, residentBytes: residentBytes(), rssBeforeBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024, seconds };
}

/** Loads `dir` in a fresh Node process and returns its measurement. */
export function measureLoadInChild(dir: string, mode: LoadMode = 'bfloat16'): LoadMeasurement {
  const script = fileURLToPath(import.meta.url);
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, '--measure', dir, '--mode', mode], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (result.status !== 0) throw new Error(`load-memory child failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as LoadMeasurement;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      measure: { type: 'string' },
      mode: { type: 'string' },
      modes: { type: 'string' },
      dir: { type: 'string' },
      layers: { type: 'string' },
      vocab: { type: 'string' },
      hidden: { type: 'string' },
      intermediate: { type: 'string' },
    },
  });
  if (values.measure !== undefined) {
    console.log(JSON.stringify(measureLoad(values.measure, (values.mode ?? 'bfloat16') as LoadMode)));
    return;
  }
  const modes = (values.modes ?? 'bfloat16,float32').split(',') as LoadMode[];
  if (modes.some((m) => m !== 'bfloat16' && m !== 'float32')) throw new Error(`--modes: bfloat16 and/or float32, got ${values.modes}`);
  const dir = values.dir ?? path.join(os.tmpdir(), 'gemma2-synthetic-checkpoint');
  const defaults = parseGemma2Config({});
  const config = {
    ...gemma2ConfigToJson(defaults),
    architectures: ['Gemma2ForCausalLM'],
    num_hidden_layers: Number(values.layers ?? defaults.numHiddenLayers),
    vocab_size: Number(values.vocab ?? defaults.vocabSize),
    hidden_size: Number(values.hidden ?? defaults.hiddenSize),
    intermediate_size: Number(values.intermediate ?? defaults.intermediateSize),
  };
  delete (config as Record<string, unknown>).layer_types;
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    const started = performance.now();
    const { parameters, files } = writeSyntheticCheckpoint(dir, config);
    console.log(`wrote ${dir}: ${(parameters / 1e9).toFixed(2)}B parameters, BF16, ${files} file(s), ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  for (const mode of modes) {
    const m = measureLoadInChild(dir, mode);
    const above = m.peakRssBytes - m.rssBeforeBytes;
    const what = mode === 'bfloat16' ? 'kept in bf16 (default)' : "forced to float32 (weightDtype: 'float32')";
    console.log(`\n${what}: loaded ${(m.parameters / 1e9).toFixed(2)}B parameters in ${m.seconds.toFixed(1)} s`);
    console.log(`weights as held:        ${(m.heldBytes / MB).toFixed(0)} MiB (${(m.residentBytes / MB).toFixed(0)} MiB of them resident in wasm memory; float32 would be ${(m.float32Bytes / MB).toFixed(0)} MiB)`);
    console.log(`RSS before loading:     ${(m.rssBeforeBytes / MB).toFixed(0)} MiB`);
    console.log(`peak RSS:               ${(m.peakRssBytes / MB).toFixed(0)} MiB`);
    console.log(`peak above the start:   ${(above / MB).toFixed(0)} MiB = weights + ${((above - m.heldBytes) / MB).toFixed(0)} MiB (${((100 * (above - m.heldBytes)) / m.heldBytes).toFixed(1)}%)`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
