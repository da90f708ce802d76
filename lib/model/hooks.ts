// Hooks: reading or replacing the activation at a hook point (hook-points.ts)
// while the model runs, as TransformerLens's run_with_hooks and run_with_cache do.
//
//   model.runWithCache(input)                                   every point, name -> tensor
//   model.runWithCache(input, ['layers.0.attn.pattern'])        only these
//   model.runWithHooks(input, { 'layers.1.attn.z': zeroHead })  ablation, activation patching
//
// A hook receives the activation and its point's name. It returns nothing
// (it only looks) or a tensor of the same shape, which replaces the activation
// for everything computed after it. A replacement is built from ordinary ops,
// so a loss stays differentiable through it; to read the gradient at a point,
// call retainGrad() on the activation there (or, for a model whose weights
// do not require gradients, return `activation.detach().requireGrad()`).
//
// Cost when unused: the model passes HookScope.none, whose `at` returns the
// activation untouched: no name is built and nothing is looked up.

import type { Tensor } from '../tensor/tensor.ts';
import { ShapeError, formatShape, sameShape } from '../tensor/shape.ts';

/** The point a hook runs at. */
export interface HookPoint {
  /** Its full name, e.g. `layers.3.attn.pattern` (hook-points.ts lists them all). */
  readonly name: string;
}

/** Looks at an activation, or returns a same-shaped tensor to use in its place. */
export type HookFunction = (activation: Tensor, point: HookPoint) => Tensor | void;

/** Which points a hook runs at: one exact name, or every name the function accepts. */
export type HookSelector = string | ((name: string) => boolean);

/** Hooks by exact name, or as [selector, hook] pairs; at a point they run in the order given. */
export type Hooks = Readonly<Record<string, HookFunction>> | readonly (readonly [HookSelector, HookFunction])[];

type HookEntry = readonly [HookSelector, HookFunction];

function selects(selector: HookSelector, name: string): boolean {
  return typeof selector === 'string' ? selector === name : selector(name);
}

/** The hooks of one forward call, seen from one module: `at('attn.q', q)` runs those of `<prefix>attn.q`. */
export class HookScope {
  /** No hooks: every point passes its activation through. */
  static readonly none = new HookScope([], '');

  private constructor(
    private readonly entries: readonly HookEntry[],
    private readonly prefix: string,
  ) {}

  /** Hooks as a forward's input gives them: a scope already made by an outer model, a specification, or none. */
  static of(hooks: Hooks | HookScope | undefined): HookScope {
    if (hooks === undefined) return HookScope.none;
    if (hooks instanceof HookScope) return hooks;
    const entries: HookEntry[] = Array.isArray(hooks)
      ? [...(hooks as readonly HookEntry[])]
      : Object.entries(hooks as Readonly<Record<string, HookFunction>>);
    for (const [selector, hook] of entries) {
      if ((typeof selector !== 'string' && typeof selector !== 'function') || typeof hook !== 'function') {
        throw new TypeError(`hooks: each hook must be a function under a hook point name (or a name test); got ${typeof hook} under ${String(selector)}`);
      }
    }
    return entries.length === 0 ? HookScope.none : new HookScope(entries, '');
  }

  /**
   * Checks every selector against the model's point names (hookPointNames()):
   * a name the model does not have, or a test no name passes, is an error
   * rather than a hook that silently never runs.
   */
  validate(names: readonly string[], model: string): this {
    for (const [selector] of this.entries) {
      if (names.some((name) => selects(selector, name))) continue;
      const what = typeof selector === 'string' ? `no hook point "${selector}"` : 'a hook whose name test accepts no hook point';
      throw new Error(`${model}: ${what}; its ${names.length} points are ${names.slice(0, 3).join(', ')}, ... ${names.at(-1)} (model.hookPointNames(), README "Hook points")`);
    }
    return this;
  }

  /** Whether any hook is set: a model may skip work (a view) that only hooks need. */
  get active(): boolean {
    return this.entries.length > 0;
  }

  /** This scope with one more hook, run after the others at its points. */
  plus(selector: HookSelector, hook: HookFunction): HookScope {
    return new HookScope([...this.entries, [selector, hook]], this.prefix);
  }

  /** The scope of a submodule: `within('layers.3')` makes `at('resid_pre', h)` the point `layers.3.resid_pre`. */
  within(prefix: string): HookScope {
    return this.entries.length === 0 ? this : new HookScope(this.entries, `${this.prefix}${prefix}.`);
  }

  /** Runs the hooks of point `name` (relative to this scope) on `activation`; returns what flows on. */
  at(name: string, activation: Tensor): Tensor {
    if (this.entries.length === 0) return activation;
    const point: HookPoint = { name: this.prefix + name };
    for (const [selector, hook] of this.entries) {
      if (!selects(selector, point.name)) continue;
      const replacement = hook(activation, point);
      if (replacement === undefined) continue;
      if (typeof replacement !== 'object' || replacement === null || !('shape' in replacement) || !('dtype' in replacement)) {
        throw new TypeError(`hook at ${point.name}: a hook returns nothing or a Tensor; it returned ${typeof replacement}`);
      }
      if (!sameShape(replacement.shape, activation.shape) || replacement.dtype !== activation.dtype) {
        throw new ShapeError(
          `hook at ${point.name}: the replacement is ${replacement.dtype} ${formatShape(replacement.shape)}, the activation ${activation.dtype} ${formatShape(activation.shape)}; they must match`,
        );
      }
      activation = replacement;
    }
    return activation;
  }
}

/** What runWithCache keeps: which points, by exact names or a name test; every point when absent. */
export type CacheSelection = readonly string[] | ((name: string) => boolean);

/** A model that runs with hooks: PreTrainedModel's runWithHooks and runWithCache need only this. */
export interface HookableModel<I extends { hooks?: Hooks | HookScope }, O> {
  forward(input: I): O;
  hookPointNames(): string[];
  readonly architecture: string;
}

/** `model.forward(input)` with `hooks`, every hook name checked against the model's points first. */
export function runWithHooks<I extends { hooks?: Hooks | HookScope }, O>(model: HookableModel<I, O>, input: I, hooks: Hooks): O {
  if (input.hooks !== undefined) throw new Error(`${model.architecture}.runWithHooks: pass the hooks as the second argument, not in the input too`);
  return model.forward({ ...input, hooks: HookScope.of(hooks).validate(model.hookPointNames(), model.architecture) });
}

/**
 * `model.forward(input)` keeping the activation at every selected point,
 * name -> tensor in forward order. The tensors are the ones the forward used
 * (differentiable when gradients are being recorded); under noGrad they are
 * plain values.
 */
export function runWithCache<I extends { hooks?: Hooks | HookScope }, O>(
  model: HookableModel<I, O>,
  input: I,
  names?: CacheSelection,
): { output: O; activations: Map<string, Tensor> } {
  const activations = new Map<string, Tensor>();
  const keep: HookFunction = (activation, point) => {
    activations.set(point.name, activation);
  };
  const selected = names === undefined ? () => true : names;
  let scope = HookScope.of(input.hooks);
  if (typeof selected === 'function') scope = scope.plus(selected, keep);
  else for (const name of selected) scope = scope.plus(name, keep);
  const output = model.forward({ ...input, hooks: scope.validate(model.hookPointNames(), model.architecture) });
  return { output, activations };
}
