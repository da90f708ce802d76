// The autograd tape, micrograd-style: every differentiable op that sees an
// input with requiresGrad attaches a GradNode to its output, naming the op.
// backward() sorts the graph topologically and walks it in reverse, running
// each node's rule from the gradient table once with the summed gradient of
// its output.
//
// The rules live in one table, lib/ops/gradients.ts (tinygrad's pattern: one
// place says how every op differentiates). lib/ops sits above this file, so it
// hands the table over with installGradientTable() when it loads. An op name
// with no rule is an error when the op records, never a silent zero later.
//
// In-place writes are caught as PyTorch's version counters catch them: a
// node keeps the versions of the tensors its rule saves, and backward refuses
// to run the rule if any of them was written since.
//
// Gradient checkpointing (checkpoint.ts) adds three things here: a rule that
// saves every input, a first pass that records nothing but notes which
// tensors requiring a gradient its ops read (runUntraced), and enableGrad, to
// record again inside backward.

import { releaseEarly, withArena } from '../tensor/arena.ts';
import { type GradNode, Tensor } from '../tensor/tensor.ts';
import { formatShape, sameShape } from '../tensor/shape.ts';
import { copyStrided } from '../tensor/strided.ts';

/** What a gradient rule reads from the forward: an input, by position, or the output. */
export type Saved = number | 'output';

/** The forward of one recorded op, as its gradient rule sees it. */
export interface RecordedForward<Attrs> {
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attrs: Attrs;
}

/**
 * How one op differentiates. `backward` returns one gradient per input, in
 * input order; `null` means "no gradient flows to this input", which is only
 * allowed for inputs that do not require a gradient (integer ids, masks,
 * tables); anything else is an error naming the op. `saves` lists every
 * tensor `backward` reads (attrs that alias a tensor's storage count as that
 * tensor), so an in-place write to one of them before backward is caught.
 */
export interface GradientRule<Attrs = undefined> {
  /** 'every input': a rule that reads all its inputs, however many a node has (checkpoint.ts). */
  readonly saves: readonly Saved[] | 'every input';
  backward(gradOutput: Tensor, forward: RecordedForward<Attrs>): (Tensor | null)[];
}

export class GradientError extends Error {
  override name = 'GradientError';
}

let gradEnabled = true;
/** While runUntraced runs: the tensors requiring a gradient that its ops read (and did not record). */
let untracedReads: Set<Tensor> | null = null;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` with recording set to `enabled` and no untraced pass open, then restores both. */
function withRecording<T>(enabled: boolean, reads: Set<Tensor> | null, fn: () => T): T {
  const previous = { gradEnabled, untracedReads };
  gradEnabled = enabled;
  untracedReads = reads;
  try {
    return fn();
  } finally {
    ({ gradEnabled, untracedReads } = previous);
  }
}

/** Runs `fn` without recording anything on the tape (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  return withRecording(false, null, fn);
}

/** Runs `fn` recording again, inside noGrad or backward (PyTorch's torch.enable_grad): a checkpoint's recomputation. */
export function enableGrad<T>(fn: () => T): T {
  return withRecording(true, null, fn);
}

/**
 * Runs `fn` without recording, like noGrad, and also returns every tensor
 * requiring a gradient that an op inside read: what `fn` would have connected
 * to the tape (its inputs, the parameters it uses). A checkpoint's first pass.
 */
export function runUntraced<T>(fn: () => T): { result: T; readsRequiringGrad: Tensor[] } {
  const reads = new Set<Tensor>();
  const result = withRecording(false, reads, fn);
  return { result, readsRequiringGrad: [...reads] };
}

// ---- the gradient table -------------------------------------------------------

const rules = new Map<string, GradientRule<unknown>>();
/** The element-wise sum that adds up gradients reaching one tensor by several paths (the ops' add kernel). */
let sumGradients: ((a: Tensor, b: Tensor) => Tensor) | null = null;

/** Called once by lib/ops/gradients.ts: every op's rule, and the add that accumulates gradients. */
export function installGradientTable(table: Readonly<Record<string, GradientRule<never>>>, add: (a: Tensor, b: Tensor) => Tensor): void {
  for (const [op, rule] of Object.entries(table)) rules.set(op, rule as GradientRule<unknown>);
  sumGradients = add;
}

function ruleFor(op: string): GradientRule<unknown> {
  const rule = rules.get(op);
  if (rule === undefined) {
    const hint = rules.size === 0 ? ' (no table is installed: import lib/ops/index.ts)' : '';
    throw new GradientError(`${op}: the op has no rule in the gradient table (lib/ops/gradients.ts)${hint}`);
  }
  return rule;
}

/**
 * Adds the rule of a node made below lib/ops: the checkpoint (checkpoint.ts),
 * which differentiates by running backward again rather than by any op's
 * formula, and which lib/autograd cannot take from lib/ops' table. A name can
 * be given only once.
 */
export function registerGradientRule<Attrs>(op: string, rule: GradientRule<Attrs>): void {
  if (rules.has(op)) throw new GradientError(`${op}: the op already has a gradient rule`);
  rules.set(op, rule as GradientRule<unknown>);
}

/** Whether backward can run a node named `op`: a rule from the table or from registerGradientRule. */
export function hasGradientRule(op: string): boolean {
  return rules.has(op);
}

function accumulate(a: Tensor, b: Tensor): Tensor {
  if (sumGradients === null) throw new GradientError('backward: no gradient table is installed (import lib/ops/index.ts)');
  return sumGradients(a, b);
}

// ---- recording ------------------------------------------------------------------

const NOTHING_SAVED: readonly number[] = [];

function anyRequiresGrad(inputs: readonly Tensor[]): boolean {
  for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) return true;
  return false;
}

function savedTensor(saved: Saved, inputs: readonly Tensor[], output: Tensor): Tensor {
  return saved === 'output' ? output : inputs[saved];
}

/** What a node of `rule` with `inputCount` inputs saves. */
function savedList(rule: GradientRule<unknown>, inputCount: number): readonly Saved[] {
  return rule.saves === 'every input' ? Array.from({ length: inputCount }, (_, i) => i) : rule.saves;
}

/**
 * Attaches a node for `op` to `output` when gradients are being recorded and
 * some input requires one; `attrs` is what the op's rule needs besides the
 * tensors. Returns `output` so ops can `return record(...)`. Throws for an op
 * without a rule, whether or not anything is recorded.
 */
export function record(output: Tensor, op: string, inputs: Tensor[], attrs?: unknown): Tensor {
  const rule = ruleFor(op);
  if (!gradEnabled) {
    if (untracedReads !== null) for (const input of inputs) if (input.requiresGrad) untracedReads.add(input);
    return output;
  }
  if (!anyRequiresGrad(inputs)) return output;
  let savedVersions = NOTHING_SAVED;
  const saves = savedList(rule, inputs.length);
  if (saves.length > 0) {
    const versions = new Array<number>(saves.length);
    for (let i = 0; i < versions.length; i++) versions[i] = savedTensor(saves[i], inputs, output).version;
    savedVersions = versions;
  }
  output.requiresGrad = true;
  output.gradNode = { op, inputs, output, attrs, savedVersions, freed: false };
  return output;
}

// ---- backward ---------------------------------------------------------------------

/** Tensors reachable from `root` through grad nodes, parents before children. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: a deep model would overflow the call stack with recursion.
  const stack: { tensor: Tensor; expanded: boolean }[] = [{ tensor: root, expanded: false }];
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (top.expanded) {
      order.push(top.tensor);
      continue;
    }
    if (visited.has(top.tensor)) continue;
    visited.add(top.tensor);
    stack.push({ tensor: top.tensor, expanded: true });
    for (const input of top.tensor.gradNode?.inputs ?? []) {
      if (input.requiresGrad && !visited.has(input)) stack.push({ tensor: input, expanded: false });
    }
  }
  return order;
}

export interface BackwardOptions {
  /** Keep the grad nodes so backward can run through the graph again. */
  retainGraph?: boolean;
}

/** Drops what a node holds so memory can be reclaimed; running it again is an error. */
function freeNode(node: GradNode): void {
  node.inputs = [];
  node.attrs = null;
  node.freed = true;
}

/** Refuses to run a rule on a saved tensor that was written in place after the op recorded it. */
function checkSavedVersions(node: GradNode, rule: GradientRule<unknown>): void {
  const saves = savedList(rule, node.inputs.length);
  for (let i = 0; i < saves.length; i++) {
    const saved = saves[i];
    const tensor = savedTensor(saved, node.inputs, node.output);
    if (tensor.version === node.savedVersions[i]) continue;
    const which = saved === 'output' ? 'its output' : `input ${saved}`;
    throw new GradientError(
      `${node.op}: ${which} (shape ${formatShape(tensor.shape)}) was written in place after ${node.op} saved it for backward ` +
        `(version ${node.savedVersions[i]} when recorded, ${tensor.version} now), so the gradient would use the new values. ` +
        'Write to it (copyFrom, an optimizer step) after backward(), or give the op a copy of it.',
    );
  }
}

/** The gradient kept in a leaf's .grad: row-major, so optimizers can read it flat. */
function contiguousGradient(g: Tensor): Tensor {
  return g.isContiguous() ? g : Tensor.fromData(copyStrided(g.nd), g.shape);
}

/**
 * Accumulates d(root)/d(leaf) into `leaf.grad` for every leaf with
 * requiresGrad, and into the .grad of computed tensors that called
 * retainGrad(). `root` must be a scalar unless `gradient` (d(loss)/d(root)) is
 * given; a given gradient stays the caller's (its memory is never handed back
 * to the arena). Leaf gradients add to whatever is already in `.grad`, as in PyTorch.
 */
export function backward(root: Tensor, gradient?: Tensor, options: BackwardOptions = {}): void {
  const callersGradient = gradient;
  if (!root.requiresGrad) {
    throw new GradientError('backward: the tensor does not require a gradient (no input of the computation had requiresGrad)');
  }
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new GradientError(`backward: gradient can be implied only for a scalar, got shape ${formatShape(root.shape)}; pass the gradient explicitly`);
    }
    gradient = root.onesLike();
  } else if (!sameShape(gradient.shape, root.shape)) {
    throw new GradientError(`backward: gradient shape ${formatShape(gradient.shape)} does not match the tensor shape ${formatShape(root.shape)}`);
  }

  const grads = new Map<Tensor, Tensor>([[root, gradient]]);
  const order = topologicalOrder(root);
  // Every saved tensor is checked before any rule runs, so a refused backward leaves the graph and the .grads as they were.
  for (const tensor of order) {
    const node = tensor.gradNode;
    if (node !== null && !node.freed) checkSavedVersions(node, ruleFor(node.op));
  }
  // Gradients live in an arena (lib/tensor/arena.ts): a rule's temporaries go back when it returns, and each
  // gradient once its rule has consumed it, so the next rules reuse their arrays instead of fresh pages.
  const stored: Tensor[] = []; // the .grads written: they outlive backward
  noGrad(() =>
    withArena(
      () => {
        for (let i = order.length - 1; i >= 0; i--) {
          const tensor = order[i];
          const grad = grads.get(tensor);
          if (grad === undefined) continue;
          grads.delete(tensor); // free intermediate gradients as soon as they are used
          const node = tensor.gradNode;
          if (node === null || tensor.retainsGrad) {
            tensor.grad = tensor.grad === null ? contiguousGradient(grad) : accumulate(tensor.grad, grad);
            stored.push(tensor.grad);
          }
          if (node === null) continue;
          if (node.freed) {
            throw new GradientError(`${node.op}: backward through this graph a second time; its nodes were freed (pass { retainGraph: true } to the first backward)`);
          }
          const inputGrads = withArena(
            () => ruleFor(node.op).backward(grad, node),
            (produced) => produced.filter((g): g is Tensor => g !== null && g !== undefined),
          );
          node.inputs.forEach((input, k) => {
            if (!input.requiresGrad) return;
            const g = inputGrads[k];
            if (g === null || g === undefined) {
              throw new GradientError(`${node.op}: no gradient rule for input ${k} (shape ${formatShape(input.shape)}), which requires a gradient`);
            }
            if (!sameShape(g.shape, input.shape) || g.dtype !== 'float32') {
              throw new GradientError(
                `${node.op}: backward produced a ${g.dtype} gradient of shape ${formatShape(g.shape)} for input ${k} of shape ${formatShape(input.shape)}`,
              );
            }
            const previous = grads.get(input);
            grads.set(input, previous === undefined ? g : accumulate(previous, g));
          });
          if (!options.retainGraph) freeNode(node);
          // The caller's gradient may still be read after this returns: a checkpoint's recomputation (checkpoint.ts)
          // backpropagates the outer backward's gradient, which that backward may still hold for another tensor.
          if (grad !== callersGradient && !isHeld(grad, grads, inputGrads, stored)) releaseEarly(grad.nd.data);
        }
      },
      () => stored,
    ),
  );
}

/** Whether a consumed gradient's memory is still someone's: a pending gradient, an input's new one, or a stored .grad. */
function isHeld(grad: Tensor, pending: Map<Tensor, Tensor>, produced: readonly (Tensor | null | undefined)[], stored: readonly Tensor[]): boolean {
  const buffer = grad.nd.data.buffer;
  const shares = (t: Tensor | null | undefined) => t !== null && t !== undefined && t.nd.data.buffer === buffer;
  if (produced.some(shares) || stored.some(shares)) return true;
  for (const g of pending.values()) if (shares(g)) return true;
  return false;
}

// ---- the method -------------------------------------------------------------------

declare module '../tensor/tensor.ts' {
  interface Tensor {
    /** d(this)/d(leaf) added into every leaf's .grad; see backward(). */
    backward(gradient?: Tensor, options?: BackwardOptions): void;
  }
}

Tensor.prototype.backward = function (this: Tensor, gradient?: Tensor, options?: BackwardOptions): void {
  backward(this, gradient, options);
};
