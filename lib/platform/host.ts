// What the library takes from the platform it runs on, in one place, so the
// core (tensor, autograd, ops, kernels, model, generation, tokenizer) has no
// `import ... from 'node:...'` and bundles for a browser unchanged.
//
// On Node, built-in modules come from process.getBuiltinModule (Node >= 20.16),
// which Node documents for exactly this: code that must also load where no
// Node built-ins exist. In a browser every Node-only capability is absent and
// the callers say so (a path to read, worker threads), instead of failing at
// import time.

interface NodeProcess {
  env: Record<string, string | undefined>;
  getBuiltinModule?: (id: string) => unknown;
}

const nodeProcess = (globalThis as { process?: NodeProcess }).process;

/** True when running on Node (process.getBuiltinModule is available). */
export const isNode = typeof nodeProcess?.getBuiltinModule === 'function';

/**
 * A Node built-in module ('node:fs', 'node:worker_threads', ...) when running
 * on Node; undefined elsewhere. `T` is the part of the module the caller uses.
 */
export function nodeBuiltin<T>(id: `node:${string}`): T | undefined {
  return nodeProcess?.getBuiltinModule?.(id) as T | undefined;
}

/** An environment variable on Node (process.env); undefined in a browser. */
export function environmentVariable(name: string): string | undefined {
  const value = nodeProcess?.env[name];
  return value === '' ? undefined : value;
}
