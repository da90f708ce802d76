// Run by test/kernels/worker-pool.test.ts in a child process: a hang here
// (the main thread blocked in Atomics.wait) must end in the parent's timeout,
// not hang the test run. Prints one line per scenario that returned.

import { setBackend, setThreads } from '../../../kernels/backend.ts';
import { parallel, registerModule, workerPool } from '../../../kernels/wasm/threads.ts';
import { simdMap } from '../../../kernels/wasm/vector-math.ts';
import { wasm } from '../../../kernels/wasm/memory.ts';

setBackend('webasm');
setThreads(2);
simdMap('tanh', [new Float32Array(1 << 17)]); // compiles the map kernels and starts the pool
// a harmless helper job: tanh over one vector at wasm address 0, in place
const job = () => [{ fn: 'tanh', args: [0, 0, 1] }];

// 1. The pool is replaced while a job runs (a kernel compiled for the first time by the
//    main thread's share calls registerModule, which stops the pool): the helper finishes its job.
const emptyModule = new wasm.Module(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0]));
const before = workerPool();
parallel(2, true, job, () => registerModule(emptyModule, []));
if (workerPool() === before) throw new Error('registerModule did not replace the pool');
parallel(2, true, job, () => {});
console.log('stopped during a job: returned');

// 2. A job nested in the main thread's share: the helper is busy, so the nested job runs here.
let nestedRan = 0;
parallel(2, true, job, () => parallel(4, true, job, (first, end) => (nestedRan += end - first)));
console.log(`nested job: returned, ${nestedRan} of 4 ran on this thread`);
process.exit(0);
