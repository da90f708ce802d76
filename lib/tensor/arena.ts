// The activation arena: float32 arrays reused from one decoder layer to the
// next in a forward pass without gradients.
//
// Why: a fresh large Float32Array is fresh pages from the operating system,
// and the first write to each page faults. A bench-small forward (B4 x T128)
// spent a third of its time in those faults (copying products out of wasm
// memory into new arrays); with the process's allocator told to keep freed
// memory (MALLOC_TRIM_THRESHOLD_ and friends) the same forward ran in 0.63 of
// the time. Every layer allocates the same shapes, so the arrays of one layer
// serve the next.
//
// The rules, which make a handed-out array safe:
//   1. Only code inside withArena(fn) gets arena arrays, and only through
//      outputArray(length): kernels ask for it where they write every element
//      of their output (an arena array holds old values, not zeros).
//      Everything else allocates as usual.
//   2. An array handed out stays handed out until its scope ends: it is
//      never given to anyone else while the scope runs.
//   3. When the scope ends, every array it was handed goes back to the free
//      list, except those whose memory (ArrayBuffer) the value returned by
//      `fn` uses: the caller owns those, and the arena forgets them.
//   4. So nothing made inside the scope may be referenced after it except
//      through what `fn` returns. The caller guarantees that: the model opens
//      a scope per decoder layer only under noGrad (no tape keeps inputs) and
//      without hooks (no hook keeps an activation); the KV cache copies keys
//      and values into its own storage.
//   5. Scopes nest: an inner scope returns its arrays when it ends, keeping
//      what it returns for the outer one.
//   6. An array may go back before its scope ends (releaseEarly) only when
//      its user knows that nothing references its memory any more: backward
//      gives back each gradient its rule has consumed, unless a gradient still
//      pending, an input's new gradient or a kept .grad shares its memory.
// test/tensor/arena.test.ts checks these rules, and that a poisoned arena
// (every returned array overwritten with NaN) leaves every output unchanged.

/** What holds values in memory: a Tensor (stated structurally: tensor.ts imports this file, through strided.ts). */
interface StoredValues {
  readonly nd: { readonly data: ArrayBufferView };
}

/** Arrays kept for reuse, by capacity (sizeClass); capped so an odd shape does not pin memory forever. */
const free = new Map<number, Float32Array[]>();
let freeFloats = 0;
const MAX_FREE_FLOATS = 64 * 2 ** 20; // 256 MB

/**
 * The arrays handed out in the open scopes, innermost last: each as handed
 * out (a view of its first `length` floats) -> the whole array it views.
 */
const scopes: Map<Float32Array, Float32Array>[] = [];

/**
 * The capacity an array of `length` gets: lengths round up to one of eight
 * steps per power of two (at most 12.5% more), so that arrays whose length
 * changes a little from call to call (a decode step's keys, one longer each
 * token) still find one to reuse. Short arrays keep their length.
 */
export function sizeClass(length: number): number {
  if (length <= 4096) return length;
  const step = 2 ** Math.floor(Math.log2(length)) / 8;
  return Math.ceil(length / step) * step;
}

/**
 * `enabled`: false makes withArena a plain call (every array fresh), to compare against.
 * `poisonReturned`: overwrite every array with NaN as it goes back to the free list, so
 * that a broken rule 4 (something still reading a returned array) shows in the outputs.
 */
export const arenaChecks = { enabled: true, poisonReturned: false };

/** What the arena did, for tests and benchmarks. */
export const arenaStats = { handedOut: 0, reused: 0 };

/**
 * A float32 array of `length` for a kernel's output, which it must overwrite
 * whole: from the arena inside a scope (old contents), a fresh zeroed one outside.
 */
export function outputArray(length: number): Float32Array {
  const scope = scopes.at(-1);
  if (scope === undefined || length === 0) return new Float32Array(length);
  const capacity = sizeClass(length);
  let whole = free.get(capacity)?.pop();
  if (whole === undefined) {
    whole = new Float32Array(capacity);
  } else {
    freeFloats -= capacity;
    arenaStats.reused++;
  }
  const array = capacity === length ? whole : whole.subarray(0, length);
  arenaStats.handedOut++;
  scope.set(array, whole);
  return array;
}

/** Runs `fn` with arena arrays for kernel outputs; see the rules above. `kept` names what `fn` returns. */
export function withArena<T>(fn: () => T, kept: (result: T) => readonly StoredValues[]): T {
  if (!arenaChecks.enabled) return fn();
  const scope = new Map<Float32Array, Float32Array>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    throw error; // nothing is returned to the free list: whatever the error left behind keeps its arrays
  }
  scopes.pop();
  const keptBuffers = new Set(kept(result).map((t) => t.nd.data.buffer));
  const outer = scopes.at(-1);
  for (const [array, whole] of scope) {
    if (keptBuffers.has(whole.buffer)) {
      outer?.set(array, whole); // an enclosing scope owns it now (rule 5); without one, the caller does
      continue;
    }
    release(whole);
  }
  return result;
}

/**
 * Gives one array back before its scope ends, when the caller knows that
 * nothing references its memory any more (backward does this with a
 * gradient its rule has consumed: lib/autograd/tape.ts). Returns whether the
 * array was the open scopes' (an array from anywhere else is left alone).
 */
export function releaseEarly(array: ArrayBufferView): boolean {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const whole = scopes[i].get(array as Float32Array);
    if (whole === undefined) continue;
    scopes[i].delete(array as Float32Array);
    release(whole);
    return true;
  }
  return false;
}

function release(array: Float32Array): void {
  if (freeFloats + array.length > MAX_FREE_FLOATS) return; // left to the garbage collector
  if (arenaChecks.poisonReturned) array.fill(Number.NaN);
  const list = free.get(array.length);
  if (list === undefined) free.set(array.length, [array]);
  else list.push(array);
  freeFloats += array.length;
}

/** Drops every array kept for reuse (the garbage collector takes them). */
export function clearArena(): void {
  free.clear();
  freeFloats = 0;
}
