// Optimizers against the PyTorch formulas computed by hand in float64:
// AdamW (decoupled weight decay, bias-corrected moments), SGD (momentum,
// dampening, Nesterov, weight decay), parameter groups, parameters without a
// gradient, gradient-norm clipping and the learning-rate schedules.

import { describe, expect, test } from 'vitest';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { tensor } from '../../lib/tensor/creation.ts';
import { AdamW, SGD, OptimizerError } from '../../lib/train/optimizer.ts';
import { clipGradNorm } from '../../lib/train/clip.ts';
import { learningRateFactor } from '../../lib/train/schedule.ts';

const close = (actual: ArrayLike<number>, expected: number[], tol = 2e-6) =>
  expected.forEach((e, i) => expect(Math.abs(actual[i] - e), `element ${i}: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(tol * (1 + Math.abs(e))));

/** Sets a parameter's gradient as backward would. */
const setGrad = (p: Tensor, values: number[]) => (p.grad = tensor(values));

describe('AdamW', () => {
  test('three steps equal the PyTorch formula computed by hand', () => {
    const lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    const p = tensor([0.5, -1.5, 2.0]).requireGrad();
    const optimizer = new AdamW([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
    const grads = [[0.1, -0.2, 0.3], [-0.5, 0.4, 0.0], [1.0, 1.0, -1.0]];
    const ref = [0.5, -1.5, 2.0];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    grads.forEach((g, step) => {
      setGrad(p, g);
      optimizer.step();
      const t = step + 1;
      for (let i = 0; i < 3; i++) {
        ref[i] -= lr * wd * ref[i]; // p -= lr * wd * p
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        ref[i] -= (lr / (1 - b1 ** t)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps);
      }
      close(p.contiguousData(), ref);
    });
  });

  test('parameter groups override options; parameters without a gradient are left alone', () => {
    const decayed = tensor([1, 1]).requireGrad();
    const norm = tensor([1, 1]).requireGrad();
    const untouched = tensor([3]).requireGrad();
    const optimizer = new AdamW([{ params: [decayed] }, { params: [norm, untouched], options: { weightDecay: 0, lr: 0.5 } }], { lr: 0.1, weightDecay: 0.5 });
    setGrad(decayed, [0, 0]);
    setGrad(norm, [0, 0]);
    optimizer.step();
    // zero gradient: only decoupled weight decay moves a parameter, p *= 1 - lr * wd
    close(decayed.contiguousData(), [0.95, 0.95]);
    close(norm.contiguousData(), [1, 1]);
    expect(Array.from(untouched.contiguousData())).toEqual([3]);
    optimizer.setLearningRate(0);
    setGrad(decayed, [1, -1]);
    optimizer.step();
    close(decayed.contiguousData(), [0.95, 0.95]);
  });

  test('bad options and a parameter in two groups are errors', () => {
    const p = tensor([1]).requireGrad();
    expect(() => new AdamW([p], { betas: [1, 0.999] })).toThrow(/betas must be in \[0, 1\)/);
    expect(() => new AdamW([p], { lr: -1 })).toThrow(/lr must be >= 0/);
    expect(() => new AdamW([{ params: [p] }, { params: [p] }])).toThrow(OptimizerError);
  });
});

describe('SGD', () => {
  const run = (options: ConstructorParameters<typeof SGD>[1], grads: number[][], start: number[]) => {
    const p = tensor(start).requireGrad();
    const optimizer = new SGD([p], options);
    for (const g of grads) {
      setGrad(p, g);
      optimizer.step();
    }
    return Array.from(p.contiguousData());
  };
  const grads = [[1, -2], [0.5, 0.5], [-1, 3]];

  /** torch.optim.SGD's algorithm, in float64. */
  function reference(o: { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean }, start: number[]): number[] {
    const p = start.slice();
    let buf: number[] | null = null;
    for (const g of grads) {
      const d = g.map((gi, i) => gi + (o.weightDecay ?? 0) * p[i]);
      let direction = d;
      if ((o.momentum ?? 0) !== 0) {
        buf = buf === null ? d.slice() : buf.map((b, i) => (o.momentum ?? 0) * b + (1 - (o.dampening ?? 0)) * d[i]);
        direction = o.nesterov ? d.map((di, i) => di + (o.momentum ?? 0) * buf![i]) : buf;
      }
      direction.forEach((di, i) => (p[i] -= o.lr * di));
    }
    return p;
  }

  for (const options of [
    { lr: 0.1 },
    { lr: 0.1, momentum: 0.9 },
    { lr: 0.1, momentum: 0.9, dampening: 0.3 },
    { lr: 0.1, momentum: 0.9, nesterov: true },
    { lr: 0.05, momentum: 0.5, weightDecay: 0.2 },
    { lr: 0.1, dampening: 0.5 },
  ]) {
    test(`${JSON.stringify(options)} matches the PyTorch algorithm`, () => {
      close(run(options, grads, [1, 2]), reference(options, [1, 2]));
    });
  }

  test('Nesterov needs momentum and no dampening', () => {
    expect(() => new SGD([tensor([1]).requireGrad()], { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires momentum > 0 and dampening 0/);
  });
});

describe('clipGradNorm', () => {
  test('scales every gradient by maxNorm / (norm + 1e-6) when the global norm is larger', () => {
    const a = tensor([0, 0]).requireGrad();
    const b = tensor([0]).requireGrad();
    setGrad(a, [3, 0]);
    setGrad(b, [4]);
    const norm = clipGradNorm([a, b], 1);
    expect(norm).toBeCloseTo(5, 6);
    const scale = 1 / (5 + 1e-6);
    close(a.grad!.contiguousData(), [3 * scale, 0]);
    close(b.grad!.contiguousData(), [4 * scale]);
    expect(clipGradNorm([a, b], 10)).toBeCloseTo(1, 5);
    close(b.grad!.contiguousData(), [4 * scale]); // below the limit: unchanged
  });
});

describe('learning-rate schedules (Transformers get_*_schedule_with_warmup)', () => {
  test('warmup then constant, linear and cosine decay', () => {
    const s = (kind: 'constant' | 'linear' | 'cosine') => ({ kind, warmupSteps: 10, totalSteps: 110 });
    expect(learningRateFactor(s('constant'), 0)).toBe(0);
    expect(learningRateFactor(s('constant'), 5)).toBe(0.5);
    expect(learningRateFactor(s('constant'), 50)).toBe(1);
    expect(learningRateFactor(s('linear'), 10)).toBe(1);
    expect(learningRateFactor(s('linear'), 60)).toBe(0.5);
    expect(learningRateFactor(s('linear'), 110)).toBe(0);
    expect(learningRateFactor(s('cosine'), 10)).toBe(1);
    expect(learningRateFactor(s('cosine'), 60)).toBeCloseTo(0.5, 12);
    expect(learningRateFactor(s('cosine'), 35)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)), 12);
    expect(learningRateFactor(s('cosine'), 110)).toBeCloseTo(0, 12);
  });
});
