// Worker threads for the SIMD matmul: every core but the main thread's runs
// a worker holding its own instance of the same module over the same shared
// memory. A product is split by panels of B; the main thread posts each
// worker its range through a small shared control block, computes its own
// range, and waits (Atomics.wait: the tensor API stays synchronous) until
// every worker has finished. GEMMA2_THREADS sets the thread count (1: none).

import os from 'node:os';
import { Worker } from 'node:worker_threads';

/** Control block slots (Int32Array over a SharedArrayBuffer). */
const JOB = 0; // bumped by the main thread for each job; negative: stop
const DONE = 1; // bumped by the worker when the job is finished
const ARGS = 2; // aStart, bStart, cStart, K, paddedN, M, firstPanel, endPanel (element offsets)
const ARG_COUNT = 8;

// Plain JavaScript, evaluated in each worker: mirrors panelRange in gemm.ts.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control } = workerData;
const { gemm_rows4: rows4, gemm_rows1: rows1 } = new WebAssembly.Instance(module, { env: { memory } }).exports;
const c = new Int32Array(control);
let seen = 0;
for (;;) {
  Atomics.wait(c, ${JOB}, seen);
  seen = Atomics.load(c, ${JOB});
  if (seen < 0) break;
  const [aStart, bStart, cStart, K, paddedN, M, first, end] = c.subarray(${ARGS}, ${ARGS + ARG_COUNT});
  const fullBlocks = Math.floor(M / 4);
  for (let p = first; p < end; p++) {
    const panel = 4 * (bStart + p * K * 8);
    const cPanel = 4 * (cStart + p * 8);
    if (fullBlocks > 0) rows4(4 * aStart, panel, cPanel, fullBlocks, K, 4 * K, 4 * paddedN);
    if (M % 4 > 0) rows1(4 * (aStart + fullBlocks * 4 * K), panel, cPanel + 4 * fullBlocks * 4 * paddedN, M % 4, K, 4 * K, 4 * paddedN);
  }
  Atomics.add(c, ${DONE}, 1);
  Atomics.notify(c, ${DONE});
}
`;

interface Helper {
  worker: Worker;
  control: Int32Array;
}

export interface PanelJob {
  aStart: number;
  bStart: number;
  cStart: number;
  K: number;
  paddedN: number;
  M: number;
}

export class PanelThreads {
  private readonly helpers: Helper[];

  constructor(module: object, memory: object, helperCount: number) {
    this.helpers = Array.from({ length: helperCount }, () => {
      const control = new Int32Array(new SharedArrayBuffer(4 * (ARGS + ARG_COUNT)));
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control: control.buffer } });
      worker.unref(); // idle workers must not keep the process alive
      return { worker, control };
    });
  }

  /** Tells every worker to finish. */
  stop(): void {
    for (const { control } of this.helpers) {
      Atomics.store(control, JOB, -1);
      Atomics.notify(control, JOB);
    }
  }

  /** Threads in all, the main one included. */
  get count(): number {
    return this.helpers.length + 1;
  }

  /**
   * Runs panels [0, panels) split evenly: helpers take the first ranges, the
   * main thread the last (through `runOwn`), then waits for the helpers.
   */
  run(job: PanelJob, panels: number, runOwn: (first: number, end: number) => void): void {
    const share = Math.ceil(panels / this.count);
    const started: Helper[] = [];
    this.helpers.forEach((helper, i) => {
      const first = i * share;
      const end = Math.min(panels, first + share);
      if (first >= end) return;
      const { control } = helper;
      control.set([job.aStart, job.bStart, job.cStart, job.K, job.paddedN, job.M, first, end], ARGS);
      Atomics.add(control, JOB, 1);
      Atomics.notify(control, JOB);
      started.push(helper);
    });
    runOwn(Math.min(panels, this.helpers.length * share), panels);
    for (const { control } of started) {
      const target = Atomics.load(control, JOB);
      for (let done = Atomics.load(control, DONE); done !== target; done = Atomics.load(control, DONE)) Atomics.wait(control, DONE, done);
    }
  }
}

/** Threads to use: GEMMA2_THREADS, else one per core. */
export function threadCount(): number {
  const requested = process.env.GEMMA2_THREADS;
  if (requested !== undefined && requested !== '') {
    const n = Number(requested);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`GEMMA2_THREADS: expected a positive integer, got "${requested}"`);
    return n;
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
