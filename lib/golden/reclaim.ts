// Freeing released tensors now rather than whenever the garbage collector
// gets to them. Ordinary arrays go back at a collection; weights resident in
// the kernels' WebAssembly memory (kernels/wasm/memory.ts) go back only when
// their FinalizationRegistry callback runs, which needs a collection *and* a
// turn of the event loop. A synchronous loop that drops one gemma-2-2b-sized
// model and loads the next would otherwise hold both the dead model's
// resident blocks and the new model's weights.
//
// On Node (node:v8, node:vm, through lib/platform/host.ts; a page's bundle has
// neither): its one user is the golden runner's model store (model-store.ts),
// which drops one model before loading the next.
//
// Node exposes gc() only under --expose-gc; setting the flag at run time and
// taking gc from a fresh context is what jest's leak detector does.

import { nodeBuiltin } from '../platform/host.ts';

type NodeV8 = { setFlagsFromString(flags: string): void };
type NodeVm = { runInNewContext(code: string): unknown };

let collect: (() => void) | null = null;

// (a browser has no setImmediate; a zero timeout is its next turn)
const nextTurn = () => new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

/**
 * One event-loop turn, a full garbage collection, one more turn for the
 * finalizers it queued. The first turn matters: a frame still running may
 * hold the dropped model in a register it no longer uses, which a collection
 * counts as alive (measured: without it the released model survived);
 * a suspended async frame keeps only its live values.
 */
export async function reclaimMemory(): Promise<void> {
  const v8 = nodeBuiltin<NodeV8>('node:v8');
  const vm = nodeBuiltin<NodeVm>('node:vm');
  if (collect === null && v8 !== undefined && vm !== undefined) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  // (in a browser there is no collection to ask for: the turns let finalizers run)
  await nextTurn();
  collect?.();
  await nextTurn();
}
