// Optimizers with PyTorch's semantics: AdamW and SGD with momentum, over
// parameter groups (each group may override the learning rate, weight decay
// and the other hyper-parameters; e.g. no weight decay on norms). A parameter
// without a gradient is skipped, as PyTorch does. Updates run as kernels
// (kernels/optimizer.ts) and are written into the parameters in place.

import type { Tensor } from '../tensor/tensor.ts';
import { ShapeError } from '../tensor/shape.ts';
import { noGrad } from '../autograd/tape.ts';
import { runAdamW, runSgd } from '../../kernels/optimizer.ts';

export interface ParamGroup<H> {
  params: Tensor[];
  /** Overrides of the optimizer's defaults for this group. */
  options?: Partial<H>;
}

export class OptimizerError extends Error {
  override name = 'OptimizerError';
}

/** What every optimizer shares: groups, the current learning rate, zeroGrad, state. */
export abstract class Optimizer<H extends { lr: number }, S> {
  readonly groups: { params: Tensor[]; options: H }[];
  protected readonly state = new Map<Tensor, S>();

  constructor(params: Tensor[] | ParamGroup<H>[], defaults: H) {
    const groups: ParamGroup<H>[] = params.length > 0 && 'params' in params[0] ? (params as ParamGroup<H>[]) : [{ params: params as Tensor[] }];
    this.groups = groups.map((g) => ({ params: g.params, options: { ...defaults, ...g.options } }));
    const seen = new Set<Tensor>();
    for (const group of this.groups) {
      this.validate(group.options);
      for (const p of group.params) {
        if (seen.has(p)) throw new OptimizerError('a parameter appears in more than one group');
        if (p.dtype !== 'float32') throw new OptimizerError('only float32 tensors can be optimized');
        seen.add(p);
      }
    }
  }

  protected abstract validate(options: H): void;

  /** Sets the learning rate of every group (schedules call this each step). */
  setLearningRate(lr: number | ((groupIndex: number) => number)): void {
    this.groups.forEach((g, i) => (g.options.lr = typeof lr === 'number' ? lr : lr(i)));
  }

  zeroGrad(): void {
    for (const group of this.groups) for (const p of group.params) p.zeroGrad();
  }

  /** Per-parameter state in group order (for checkpoints), or null for a parameter not stepped yet. */
  stateList(): (S | null)[] {
    return this.groups.flatMap((g) => g.params.map((p) => this.state.get(p) ?? null));
  }

  /** Restores what stateList returned (same groups, same order). */
  loadStateList(states: (S | null)[]): void {
    const params = this.groups.flatMap((g) => g.params);
    if (states.length !== params.length) throw new OptimizerError(`loadStateList: ${states.length} states for ${params.length} parameters`);
    params.forEach((p, i) => {
      const s = states[i];
      if (s === null) this.state.delete(p);
      else this.state.set(p, s);
    });
  }

  abstract step(): void;
}

/**
 * Writes the updated values into the parameter (nothing to copy when the
 * kernel updated it in place) and bumps its version: a graph recorded before
 * the step that saved the parameter can no longer run backward.
 */
function assign(p: Tensor, values: Float32Array): void {
  const storage = p.contiguousData();
  if (values !== storage) noGrad(() => storage.set(values));
  p.markModifiedInPlace();
}

function checkGradient(p: Tensor): void {
  if (p.grad !== null && p.grad.size !== p.size) {
    throw new ShapeError(`optimizer: gradient of ${p.grad.size} elements for a parameter of ${p.size}`);
  }
  if (!p.isContiguous()) throw new OptimizerError('optimizer: parameters must be contiguous tensors (not views)');
}

export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

export interface AdamWState {
  step: number;
  /** First and second moments, like PyTorch's exp_avg and exp_avg_sq. */
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/** torch.optim.AdamW: decoupled weight decay, bias-corrected moments, eps added to sqrt(v_hat). */
export class AdamW extends Optimizer<AdamWOptions, AdamWState> {
  constructor(params: Tensor[] | ParamGroup<AdamWOptions>[], options: Partial<AdamWOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, ...options });
  }

  protected validate(o: AdamWOptions): void {
    if (!(o.lr >= 0)) throw new OptimizerError(`AdamW: lr must be >= 0, got ${o.lr}`);
    if (!(o.betas[0] >= 0 && o.betas[0] < 1 && o.betas[1] >= 0 && o.betas[1] < 1)) throw new OptimizerError(`AdamW: betas must be in [0, 1), got ${o.betas}`);
    if (!(o.eps >= 0)) throw new OptimizerError(`AdamW: eps must be >= 0, got ${o.eps}`);
    if (!(o.weightDecay >= 0)) throw new OptimizerError(`AdamW: weightDecay must be >= 0, got ${o.weightDecay}`);
  }

  step(): void {
    for (const { params, options } of this.groups) {
      const { lr, betas, eps, weightDecay } = options;
      for (const p of params) {
        if (p.grad === null) continue;
        checkGradient(p);
        let s = this.state.get(p);
        if (s === undefined) {
          s = { step: 0, expAvg: new Float32Array(p.size), expAvgSq: new Float32Array(p.size) };
          this.state.set(p, s);
        }
        s.step += 1;
        const updated = runAdamW(p.contiguousData(), p.grad.contiguousData(), s.expAvg, s.expAvgSq, {
          beta1: betas[0],
          beta2: betas[1],
          decay: 1 - lr * weightDecay,
          stepSize: lr / (1 - betas[0] ** s.step),
          correction2Sqrt: Math.sqrt(1 - betas[1] ** s.step),
          eps,
        });
        s.expAvg = updated.m;
        s.expAvgSq = updated.v;
        assign(p, updated.p);
      }
    }
  }
}

export interface SgdOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface SgdState {
  momentumBuffer: Float32Array;
}

/** torch.optim.SGD: optional momentum (with dampening or Nesterov) and L2 weight decay added to the gradient. */
export class SGD extends Optimizer<SgdOptions, SgdState> {
  constructor(params: Tensor[] | ParamGroup<SgdOptions>[], options: Partial<SgdOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
  }

  protected validate(o: SgdOptions): void {
    if (!(o.lr >= 0)) throw new OptimizerError(`SGD: lr must be >= 0, got ${o.lr}`);
    if (!(o.momentum >= 0)) throw new OptimizerError(`SGD: momentum must be >= 0, got ${o.momentum}`);
    if (!(o.weightDecay >= 0)) throw new OptimizerError(`SGD: weightDecay must be >= 0, got ${o.weightDecay}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) throw new OptimizerError('SGD: Nesterov momentum requires momentum > 0 and dampening 0');
  }

  step(): void {
    for (const { params, options } of this.groups) {
      for (const p of params) {
        if (p.grad === null) continue;
        checkGradient(p);
        const s = this.state.get(p);
        // Without momentum every step is a "first" step: the direction is the gradient itself.
        const first = s === undefined || options.momentum === 0;
        const updated = runSgd(p.contiguousData(), p.grad.contiguousData(), s?.momentumBuffer ?? p.grad.contiguousData(), options, first);
        // Without momentum PyTorch keeps no buffer, and neither do we (checkpoints stay small).
        if (options.momentum !== 0) this.state.set(p, { momentumBuffer: updated.b });
        assign(p, updated.p);
      }
    }
  }
}
