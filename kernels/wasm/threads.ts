// Worker threads for the SIMD kernels: every core but the main thread's runs
// a worker holding its own instances of our wasm modules over the same shared
// memory. A kernel splits its work into ranges (panels of a product, blocks
// of a matrix-vector product, slices of an element-wise map) and hands each
// worker a short list of calls, "run exported function f with these
// arguments", through a shared call block; the main thread runs its own
// range and then waits (Atomics.wait: the tensor API stays synchronous) until
// every worker has finished. The thread count is one of the backend's
// settings (kernels/backend.ts: setThreads, GEMMA2_THREADS), which it hands
// to setThreadCount here.
//
// The workers are Node's worker_threads, taken from the platform at run time
// (lib/platform/host.ts), so this file imports nothing of Node. A browser has
// no such module (and may not block its main thread in Atomics.wait): there
// the kernels run on one thread.

import { nodeBuiltin } from '../../lib/platform/host.ts';
import { sharedMemory } from './memory.ts';

/** The part of Node's worker_threads used here. */
interface NodeWorker {
  unref(): void;
}
interface WorkerThreadsModule {
  Worker: new (source: string, options: { eval: true; workerData: unknown }) => NodeWorker;
}
const workerThreads = nodeBuiltin<WorkerThreadsModule>('node:worker_threads');

/** Whether this platform lets the kernels start worker threads. */
export function workerHostAvailable(): boolean {
  return workerThreads !== undefined;
}

/** One call of an exported wasm function. */
export interface WasmCall {
  fn: string;
  args: number[];
}

/** Control block slots (Int32Array over a SharedArrayBuffer). */
const JOB = 0; // bumped by the main thread for each job; negative: stop
const DONE = 1; // bumped by the worker when the job is finished
const CALLS = 2; // number of calls in the call block
const FAILED = 3; // set by a worker whose job threw (it still counts the job as done, so the main thread wakes)
/** The call block (Float64Array): per call, the function index, its argument count, then the arguments. */
const CALL_BLOCK_VALUES = 1024;
/** Arguments per call the worker passes on. */
const MAX_ARGS = 12;

// Plain JavaScript, evaluated in each worker.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { modules, memory, names, control, callBlock } = workerData;
const c = new Int32Array(control);
const calls = new Float64Array(callBlock);
// A worker whose modules fail to instantiate still answers every job (as failed): the main thread
// waits for an answer in Atomics.wait, and would wait forever for a worker that died here.
let functions = null;
try {
  const exported = Object.assign({}, ...modules.map((m) => new WebAssembly.Instance(m, { env: { memory } }).exports));
  functions = names.map((name) => exported[name]);
} catch (error) {
  console.error('gemma2-ts kernel worker: cannot instantiate the kernels: ' + ((error && error.stack) || error));
}
let seen = 0;
for (;;) {
  Atomics.wait(c, ${JOB}, seen);
  seen = Atomics.load(c, ${JOB});
  if (seen < 0) break;
  try {
    if (functions === null) throw new Error('the kernels were not instantiated in this worker');
    for (let i = 0, at = 0; i < c[${CALLS}]; i++) {
      const f = functions[calls[at]];
      const x = at + 2; // arguments past a function's own are ignored
      f(calls[x], calls[x + 1], calls[x + 2], calls[x + 3], calls[x + 4], calls[x + 5], calls[x + 6], calls[x + 7], calls[x + 8], calls[x + 9], calls[x + 10], calls[x + 11]);
      at += 2 + calls[at + 1];
    }
  } catch (error) {
    // the main thread is blocked in Atomics.wait: tell it through the control block, or it would wait forever
    Atomics.store(c, ${FAILED}, 1);
    console.error('gemma2-ts kernel worker: ' + ((error && error.stack) || error));
  }
  Atomics.add(c, ${DONE}, 1);
  Atomics.notify(c, ${DONE});
}
`;

interface Helper {
  worker: NodeWorker;
  control: Int32Array;
  calls: Float64Array;
}

export class WorkerPool {
  private readonly helpers: Helper[];
  private readonly index: Map<string, number>;
  /** Inside run(): a stop() then waits until the helpers have answered (see stop). */
  private running = false;
  private stopWhenIdle = false;
  /** Its workers were told to finish: it takes no more jobs (workerPool makes a new one). */
  stopped = false;

  /** `modules`: compiled WebAssembly modules importing env.memory; `names`: their exports that jobs may call. */
  constructor(modules: object[], names: string[], helperCount: number) {
    this.index = new Map(names.map((name, i) => [name, i]));
    this.helpers = Array.from({ length: helperCount }, () => {
      const control = new Int32Array(new SharedArrayBuffer(4 * 4));
      const calls = new Float64Array(new SharedArrayBuffer(8 * CALL_BLOCK_VALUES));
      const worker = new workerThreads!.Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { modules, memory: sharedMemory(), names, control: control.buffer, callBlock: calls.buffer },
      });
      worker.unref(); // idle workers must not keep the process alive
      return { worker, control, calls };
    });
  }

  /** Whether a run() is in progress: its helpers are busy, and a job nested in it runs on this thread alone. */
  get busy(): boolean {
    return this.running;
  }

  /** Threads in all, the main one included. */
  get count(): number {
    return this.helpers.length + 1;
  }

  /**
   * Tells every worker to finish. Called during run() (the main thread's own
   * share compiled a module for the first time, and registerModule replaces
   * the pool), it waits until run() has collected the helpers' answers:
   * stopping a worker in the middle of its job would leave the main thread
   * waiting for an answer that never comes.
   */
  stop(): void {
    this.stopped = true;
    if (this.running) {
      this.stopWhenIdle = true;
      return;
    }
    for (const { control } of this.helpers) {
      Atomics.store(control, JOB, -1);
      Atomics.notify(control, JOB);
    }
  }

  /**
   * Hands helper i the calls perHelper[i] (an empty list: none), runs `own`
   * on this thread, then waits for the helpers.
   */
  run(perHelper: WasmCall[][], own: () => void): void {
    // each started helper with the job count it answers when done
    const started: { control: Int32Array; job: number }[] = [];
    if (this.stopped) throw new Error('WorkerPool: the pool was stopped; workerPool() gives the current one');
    this.running = true;
    let thrown: { error: unknown } | null = null;
    try {
      perHelper.forEach((calls, i) => {
        if (calls.length === 0) return;
        const helper = this.helpers[i];
        let at = 0;
        for (const { fn, args } of calls) {
          const f = this.index.get(fn);
          if (args.length > MAX_ARGS) throw new RangeError(`WorkerPool: ${fn} called with ${args.length} arguments, at most ${MAX_ARGS}`);
          if (f === undefined) throw new Error(`WorkerPool: no exported function "${fn}"`);
          if (at + 2 + args.length > CALL_BLOCK_VALUES) throw new RangeError(`WorkerPool: more than ${CALL_BLOCK_VALUES} values of calls in one job`);
          helper.calls[at] = f;
          helper.calls[at + 1] = args.length;
          helper.calls.set(args, at + 2);
          at += 2 + args.length;
        }
        helper.control[CALLS] = calls.length;
        const job = Atomics.add(helper.control, JOB, 1) + 1;
        Atomics.notify(helper.control, JOB);
        started.push({ control: helper.control, job });
      });
      own();
    } catch (error) {
      thrown = { error };
    }
    // every started helper is waited for, even when this thread's share threw: its job still writes into memory
    let failed = false;
    for (const { control, job } of started) {
      for (let done = Atomics.load(control, DONE); done !== job; done = Atomics.load(control, DONE)) Atomics.wait(control, DONE, done);
      if (Atomics.exchange(control, FAILED, 0) !== 0) failed = true;
    }
    this.running = false;
    if (this.stopWhenIdle) {
      this.stopWhenIdle = false;
      this.stop();
    }
    if (thrown !== null) throw thrown.error;
    if (failed) {
      const names = [...new Set(perHelper.flat().map((call) => call.fn))].join(', ');
      throw new Error(`WorkerPool: a worker thread failed while running ${names} (its error is printed on stderr); the result is incomplete`);
    }
  }
}

let threads = 1;

/** Sets how many threads the kernels use, the main one included (kernels/backend.ts calls this). */
export function setThreadCount(count: number): void {
  if (count > 1 && !workerHostAvailable()) throw new RangeError(`setThreadCount: ${count} threads, but this platform has no worker threads`);
  threads = count;
}

/** How many threads the kernels use, the main one included. */
export function threadCount(): number {
  return threads;
}

/** Splits [0, total) into `parts` contiguous ranges of near-equal size (some may be empty). */
export function splitRange(total: number, parts: number): [number, number][] {
  const share = Math.ceil(total / parts);
  return Array.from({ length: parts }, (_, i) => [Math.min(total, i * share), Math.min(total, (i + 1) * share)]);
}

// ---- the one pool, over every module the kernels have compiled ----

const registered: { module: object; names: string[] }[] = [];
let pool: WorkerPool | null = null;

/** Makes a compiled module's functions callable from worker jobs (the pool restarts to load it). */
export function registerModule(module: object, names: string[]): void {
  registered.push({ module, names });
  pool?.stop();
  pool = null;
}

/** The worker pool for the current thread count, or null when only one thread is wanted. */
export function workerPool(): WorkerPool | null {
  const count = threads;
  if (count <= 1) return null;
  if (pool === null || pool.count !== count || pool.stopped) {
    pool?.stop();
    pool = new WorkerPool(registered.map((r) => r.module), registered.flatMap((r) => r.names), count - 1);
  }
  return pool;
}

/**
 * Splits [0, total) across the pool (when `worthIt` and there is one): helper
 * i runs callsFor(its range), this thread runHere(the last range).
 */
export function parallel(total: number, worthIt: boolean, callsFor: (first: number, end: number) => WasmCall[], runHere: (first: number, end: number) => void): void {
  const pool = worthIt && total > 1 ? workerPool() : null;
  // nested in another job's share of this thread (a kernel calling a kernel), the helpers are busy with that job
  if (pool === null || pool.busy) {
    runHere(0, total);
    return;
  }
  const ranges = splitRange(total, pool.count);
  const own = ranges.pop()!;
  pool.run(ranges.map(([first, end]) => (first < end ? callsFor(first, end) : [])), () => runHere(own[0], own[1]));
}
