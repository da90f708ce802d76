// The activation arena (lib/tensor/arena.ts): an array handed out is never
// handed out again while its scope runs, nor after it when the scope returned
// it; everything else is reused by the next scope. And the model's use of it
// is safe: with every returned array poisoned (NaN), every output of the
// forwards that use it (plain, padded, cached prefill and decode past the
// sliding window's wrap, hidden states, the loss, classifiers) is bit-identical to a run
// without the arena.

import { afterEach, describe, expect, test } from 'vitest';
import { arenaChecks, arenaStats, clearArena, outputArray, sizeClass, withArena } from '../../lib/tensor/arena.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Gemma2ForSequenceClassification } from '../../lib/model/classification.ts';
import { HybridCache } from '../../lib/generation/hybrid-cache.ts';
import { generate } from '../../lib/generation/generate.ts';
import { describeEachBackend } from '../helpers.ts';
import { goldenPath } from '../golden-files.ts';

afterEach(() => {
  arenaChecks.enabled = true;
  arenaChecks.poisonReturned = false;
  clearArena();
});

const wrap = (data: Float32Array) => Tensor.fromData(data, [data.length]);

/** `run` without the arena, then with every array it gives back poisoned (NaN): the same bits. Returns how many arrays were reused. */
function poisonedRunMatches(run: () => number[][]): number {
  arenaChecks.enabled = false;
  const without = run();
  arenaChecks.enabled = true;
  arenaChecks.poisonReturned = true;
  arenaStats.reused = 0;
  const withPoison = run();
  expect(withPoison.length).toBe(without.length);
  withPoison.forEach((values, i) => expect(values, `value ${i}`).toEqual(without[i]));
  return arenaStats.reused;
}

describe('arena rules', () => {
  test('outside a scope: fresh zeroed arrays, nothing pooled', () => {
    const a = outputArray(8);
    a.fill(3);
    expect(Array.from(outputArray(8))).toEqual(new Array(8).fill(0));
  });

  test('within a scope every array is distinct; the next scope reuses all but what the first returned', () => {
    const handed: Float32Array[] = [];
    const kept = withArena(
      () => {
        for (let i = 0; i < 5; i++) handed.push(outputArray(16));
        return wrap(handed[2]);
      },
      (t) => [t],
    );
    expect(new Set(handed).size).toBe(5);
    const again: Float32Array[] = [];
    withArena(
      () => {
        for (let i = 0; i < 6; i++) again.push(outputArray(16));
        return wrap(again[0]);
      },
      (t) => [t],
    );
    expect(new Set(again).size).toBe(6);
    expect(again).not.toContain(kept.nd.data); // the caller owns it now
    expect(again.filter((a) => handed.includes(a))).toHaveLength(4); // the other four came back
  });

  test('a length a little longer than last time reuses the same memory (a decode step\'s keys grow by one token)', () => {
    let first: Float32Array | undefined;
    withArena(() => void (first = outputArray(10_000)), () => []);
    let second: Float32Array | undefined;
    withArena(() => void (second = outputArray(10_064)), () => []);
    expect(second!.length).toBe(10_064);
    expect(second!.buffer).toBe(first!.buffer);
    expect(sizeClass(10_000)).toBe(10_240); // 8 steps per power of two: at most 12.5% more
    expect(sizeClass(100)).toBe(100);
  });

  test('a view of a returned array keeps its whole buffer', () => {
    let base: Float32Array | undefined;
    withArena(
      () => {
        base = outputArray(32);
        return Tensor.fromData(base.subarray(8, 16), [8]);
      },
      (t) => [t],
    );
    const next: Float32Array[] = [];
    withArena(() => void next.push(outputArray(32)), () => []);
    expect(next).not.toContain(base);
  });

  test('nested scopes: what the inner one returns belongs to the outer one until it ends', () => {
    let inner: Float32Array | undefined;
    let reusedInside: Float32Array | undefined;
    withArena(
      () => {
        withArena(
          () => {
            inner = outputArray(4);
            return wrap(inner);
          },
          (t) => [t],
        );
        reusedInside = outputArray(4); // the inner array is still the outer scope's
        return wrap(reusedInside);
      },
      (t) => [t],
    );
    expect(reusedInside).not.toBe(inner);
    const after: Float32Array[] = [];
    withArena(() => void after.push(outputArray(4)), () => []);
    expect(after[0]).toBe(inner); // returned when the outer scope ended
  });

  test('a scope that throws returns nothing to the free list', () => {
    let handed: Float32Array | undefined;
    expect(() =>
      withArena(
        () => {
          handed = outputArray(4);
          throw new Error('boom');
        },
        () => [],
      ),
    ).toThrow('boom');
    const next: Float32Array[] = [];
    withArena(() => void next.push(outputArray(4)), () => []);
    expect(next[0]).not.toBe(handed);
  });
});

describeEachBackend('the model with a poisoned arena', () => {
  const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
  const T = 11;
  const ids = Tensor.fromData(Int32Array.from({ length: 2 * T }, (_, i) => 2 + ((i * 41) % 250)), [2, T]);
  const mask = Tensor.fromData(Int32Array.from({ length: 2 * T }, (_, i) => (i >= T && i < T + 3 ? 0 : 1)), [2, T]);

  /** Everything the runs below compute, as plain arrays. */
  function outputs(): number[][] {
    const collected: number[][] = [];
    const keep = (t: Tensor) => collected.push(Array.from(t.contiguousData()));
    noGrad(() => {
      const plain = model.forward({ inputIds: ids, attentionMask: mask, labels: ids, outputHiddenStates: true });
      keep(plain.logits);
      keep(plain.loss!);
      plain.hiddenStates!.forEach(keep);
      const cache = new HybridCache(model.config, { batch: 2, maxCacheLen: 24 });
      keep(model.forward({ inputIds: ids, cache }).logits);
      for (let step = 0; step < 6; step++) keep(model.forward({ inputIds: ids.narrow(1, step, 1).contiguous(), cache }).logits);
      const classifier = Gemma2ForSequenceClassification.fromPretrained(goldenPath('models/tiny-seqcls'));
      keep(classifier.forward({ inputIds: ids, attentionMask: mask }).logits);
    });
    const generated = generate(model, ids, { maxNewTokens: 10, returnStepLogits: true });
    keep(generated.stepLogits!);
    return collected;
  }

  test('every output is bit-identical to a run without the arena, and the arena was used', () => {
    expect(poisonedRunMatches(outputs)).toBeGreaterThan(100);
  });
});

describeEachBackend('backward with a poisoned arena', () => {
  const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
  const ids = Tensor.fromData(Int32Array.from({ length: 24 }, (_, i) => 2 + ((i * 29) % 250)), [2, 12]);
  const mask = Tensor.fromData(Int32Array.from({ length: 24 }, (_, i) => (i >= 12 && i < 15 ? 0 : 1)), [2, 12]);

  /** The loss, every weight's gradient (accumulated over two backwards) and a retained gradient at a hook point. */
  function gradients(): number[][] {
    const parameters = model.namedParameters().map(([, p]) => p.requireGrad());
    for (const p of parameters) p.zeroGrad();
    try {
      const collected: number[][] = [];
      for (let pass = 0; pass < 2; pass++) {
        const { output, activations } = model.runWithCache({ inputIds: ids, attentionMask: mask, labels: ids }, ['layers.1.mlp.gated']);
        const gated = activations.get('layers.1.mlp.gated')!.retainGrad();
        output.loss!.backward();
        collected.push([output.loss!.item()], Array.from(gated.grad!.contiguousData()));
      }
      for (const p of parameters) collected.push(Array.from(p.grad!.contiguousData()));
      return collected;
    } finally {
      for (const p of parameters) p.requireGrad(false).zeroGrad();
    }
  }

  test('every gradient is bit-identical to a backward without the arena, and the arena was used', () => {
    expect(poisonedRunMatches(gradients)).toBeGreaterThan(0); // on the GPU.js path only the host-side copies use it: 46 here, 592 on the CPU path
  });
});

