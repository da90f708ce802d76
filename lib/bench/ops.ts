// `npm run bench:ops`: matmul GFLOP/s for the shapes a Gemma2 forward and
// backward needs, on every available backend, next to PyTorch on the same
// machine when Debian's torch is installed. A benchmark, not a test.
//
//   npm run bench:ops -- [--backend webasm|cpu] [--reps 5] [--shapes file.json] [--threads 1] [--json out.json]
//
// For each (M, K, N) it times the three products of matmul's forward and
// backward, each as one kernel launch (copying the operands in included):
//   forward C = A B (NN)     gradA = dC B^T (NT)     gradB = A^T dC (TN)
// and reports median GFLOP/s (2 M K N / seconds) over --reps runs after one
// warm-up (more runs for short products: about 0.3 s of them, at most 200). On webasm (the SIMD kernels of kernels/wasm/gemm.ts) it also
// times each product with B living in wasm memory, as a model's weights do
// (column "webasm resident B"): no copy of B per call. The torch column is
// measured in the same run, with --threads BLAS threads (default: as many as
// our SIMD matmul uses, GEMMA2_THREADS or one per core).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runMatmul, type MatmulLayout } from '../../kernels/matmul.ts';
import { availableBackends, setBackend, type BackendName, backend } from '../../kernels/backend.ts';
import { randn } from '../tensor/creation.ts';
import { allocateResident } from '../../kernels/wasm/memory.ts';

const here = dirname(fileURLToPath(import.meta.url));
const SHARED_SHAPES = join(here, '../../../shared/bench/matmul-shapes.json');
// The same list as ../shared/bench/matmul-shapes.json, for checkouts without it.
const BUILT_IN_SHAPES: [number, number, number][] = [
  [128, 256, 256], [128, 256, 1024], [128, 1024, 256], [512, 256, 8192],
  [1, 2304, 9216], [1, 9216, 2304], [128, 2304, 2304], [128, 2304, 9216],
];

const PRODUCTS: { name: 'forward' | 'gradA' | 'gradB'; layout: MatmulLayout }[] = [
  { name: 'forward', layout: 'NN' },
  { name: 'gradA', layout: 'NT' },
  { name: 'gradB', layout: 'TN' },
];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function loadShapes(): { shapes: [number, number, number][]; source: string } {
  const file = option('shapes') ?? (existsSync(SHARED_SHAPES) ? SHARED_SHAPES : undefined);
  if (file === undefined) return { shapes: BUILT_IN_SHAPES, source: 'built-in list' };
  return { shapes: JSON.parse(readFileSync(file, 'utf8')).shapes, source: file };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median seconds of one product, operands laid out as the kernel reads them. */
function timeProduct(layout: MatmulLayout, [M, K, N]: [number, number, number], reps: number, residentB = false): number {
  // forward: A [M,K], B [K,N]; gradA = dC [M,N] x B^T (B stored [K,N] read as [N,K]^T):
  // computed as a product with inner size N; gradB = A^T [K,M] x dC [M,N]: inner size M.
  const dims = {
    NN: { m: M, k: K, n: N },
    NT: { m: M, k: N, n: K },
    TN: { m: K, k: M, n: N },
  }[layout];
  const a = randn([layout === 'TN' ? dims.k * dims.m : dims.m * dims.k], { seed: 1 }).contiguousData();
  let b = randn([dims.k * dims.n], { seed: 2 }).contiguousData();
  if (residentB) {
    const inWasm = allocateResident(b.length, Infinity)!;
    inWasm.set(b);
    b = inWasm;
  }
  const run = () => runMatmul(layout, a, b, { batch: 1, M: dims.m, K: dims.k, N: dims.n, aBatched: 0, bBatched: 0 });
  const warmStart = performance.now();
  run();
  // short products are timed more often (at least ~0.3 s in all, at most 200 runs): their medians are noisy
  const runs = Math.max(reps, Math.min(200, Math.ceil(300 / Math.max(performance.now() - warmStart, 0.01))));
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    run();
    times.push((performance.now() - start) / 1000);
  }
  return median(times);
}

interface TorchResult {
  torch: string;
  threads: number;
  rows: { shape: number[]; forward: number; gradA: number; gradB: number }[];
}

function runTorch(shapes: [number, number, number][], reps: number, threads: number): TorchResult | string {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) return 'no /usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'torch is not installed (apt-get install python3-torch libopenblas0-pthread)';
  const result = spawnSync(python, [join(here, 'torch-matmul.py'), '--shapes', JSON.stringify(shapes), '--reps', String(reps), '--threads', String(threads)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (result.status !== 0) return `torch baseline failed: ${result.stderr.trim().split('\n').pop()}`;
  return JSON.parse(result.stdout) as TorchResult;
}

function main(): void {
  const reps = Number(option('reps') ?? 5);
  const threads = Number(option('threads') ?? backend().threads);
  const requested = option('backend');
  const backends: BackendName[] = requested ? [requested as BackendName] : availableBackends();
  const { shapes, source } = loadShapes();
  console.log(`matmul GFLOP/s, median of ${reps} runs; shapes (M, K, N) from ${source}`);

  const gflops = (shape: number[], seconds: number) => (2 * shape[0] * shape[1] * shape[2]) / seconds / 1e9;
  const ours = new Map<string, number>();
  const columns: string[] = []; // a backend, or 'webasm resident B'
  for (const name of backends) {
    setBackend(name);
    const variants = backend().path === 'cpu' ? [false, true] : [false];
    for (const resident of variants) {
      const column = resident ? `${name} resident B` : name;
      columns.push(column);
      for (const shape of shapes) {
        for (const product of PRODUCTS) {
          const seconds = timeProduct(product.layout, shape, reps, resident);
          ours.set(`${column}|${shape}|${product.name}`, gflops(shape, seconds));
          process.stderr.write(`  ${column} ${shape.join('x')} ${product.name}: ${(seconds * 1000).toFixed(1)} ms\n`);
        }
      }
    }
  }
  const torch = runTorch(shapes, reps, threads);
  const torchNote = typeof torch === 'string' ? `torch column skipped: ${torch}` : `torch ${torch.torch}, ${torch.threads} BLAS thread(s)`;

  const header = ['M x K x N', 'product', ...columns.map((b) => `${b} GFLOP/s`)];
  if (typeof torch !== 'string') header.push('torch GFLOP/s', ...columns.map((b) => `${b}/torch`));
  const rows: string[][] = [];
  const json: Record<string, unknown>[] = [];
  shapes.forEach((shape, s) => {
    for (const product of PRODUCTS) {
      const values = columns.map((b) => ours.get(`${b}|${shape}|${product.name}`)!);
      const row = [shape.join(' x '), product.name, ...values.map((v) => v.toFixed(2))];
      const entry: Record<string, unknown> = { shape, product: product.name, gflops: Object.fromEntries(columns.map((b, i) => [b, values[i]])) };
      if (typeof torch !== 'string') {
        const t = gflops(shape, torch.rows[s][product.name]);
        row.push(t.toFixed(2), ...values.map((v) => (v / t).toFixed(3)));
        entry.torchGflops = t;
      }
      rows.push(row);
      json.push(entry);
    }
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log(torchNote);
  const jsonPath = option('json');
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ reps, torch: torchNote, rows: json }, null, 1));
}

main();
