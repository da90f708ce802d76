// The HybridCache property: running a sequence through the model in pieces
// (a prompt, then one token at a time or in chunks) with the cache gives the
// same logits as one forward over the whole sequence, across configurations,
// prompt lengths and windows, including prompts longer than the window and
// decoding far past the point where the sliding caches wrap; also for a
// left-padded batch with Transformers' generate() positions. The model takes
// the cache through its ModelCache interface (lib/model/cache.ts) only.

import { expect, test } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../../lib/tensor/tensor.ts';
import type { LayerType } from '../../lib/model/config.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { HybridCache } from '../../lib/generation/hybrid-cache.ts';
import type { ModelCache } from '../../lib/model/cache.ts';
import { positionsFromMask } from '../../lib/generation/generate.ts';
import { compareTensor } from '../../lib/golden/compare.ts';
import { configArb, randomModel } from '../model/arbitraries.ts';
import { describeEachBackend } from '../helpers.ts';

const TOLERANCE = { atol: 1e-4, rtol: 1e-4 };

/** Splits `length` into a prompt of `prompt` tokens followed by chunks of the given sizes (cycled). */
function pieces(length: number, prompt: number, chunkSizes: number[]): [number, number][] {
  const out: [number, number][] = [[0, prompt]];
  let at = prompt;
  for (let i = 0; at < length; i++) {
    const size = Math.min(chunkSizes[i % chunkSizes.length], length - at);
    out.push([at, size]);
    at += size;
  }
  return out;
}

describeEachBackend('HybridCache', () => {
  test('cached decoding (token by token and in chunks) equals one full forward', () => {
    fc.assert(
      fc.property(
        configArb,
        fc.record({
          batch: fc.integer({ min: 1, max: 2 }),
          length: fc.integer({ min: 2, max: 30 }),
          promptFraction: fc.double({ min: 0, max: 1, noNaN: true }),
          chunkSizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
          leftPadding: fc.boolean(),
          extraCache: fc.integer({ min: 0, max: 3 }),
          seed: fc.integer({ min: 1, max: 1_000_000 }),
        }),
        (config, r) => {
          const model = randomModel(config, r.seed);
          const generator = new Generator(r.seed + 7);
          const { batch: B, length: L } = r;
          const ids = Array.from({ length: B }, () => Array.from({ length: L }, () => 1 + generator.nextInt(config.vocabSize - 1)));
          const prompt = Math.max(1, Math.round(r.promptFraction * L));
          // left padding: row b > 0 starts with up to prompt - 1 pads, as a batched prompt would
          const mask = ids.map((row, b) => {
            const pads = r.leftPadding && b > 0 ? generator.nextInt(prompt) : 0;
            return row.map((_, t) => (t < pads ? 0 : 1));
          });
          mask.forEach((row, b) => row.forEach((m, t) => m === 0 && (ids[b][t] = 0)));
          const positions = positionsFromMask(mask);
          const rows = (values: ArrayLike<number>[], from: number, size: number) =>
            Tensor.fromData(Int32Array.from(values.flatMap((row) => Array.from(row).slice(from, from + size))), [B, size]);

          const full = noGrad(() =>
            model.forward({ inputIds: rows(ids, 0, L), attentionMask: r.leftPadding ? rows(mask, 0, L) : undefined, positionIds: rows(positions, 0, L) }).logits,
          );
          const cache = new HybridCache(config, { batch: B, maxCacheLen: L + r.extraCache });
          for (const [start, size] of pieces(L, prompt, r.chunkSizes)) {
            const logits = noGrad(
              () =>
                model.forward({
                  inputIds: rows(ids, start, size),
                  attentionMask: r.leftPadding ? rows(mask, 0, start + size) : undefined,
                  positionIds: rows(positions, start, size),
                  cache,
                }).logits,
            );
            const expected = full.narrow(1, start, size);
            const positionMask = { shape: [B, size], data: mask.flatMap((row) => row.slice(start, start + size)) };
            const c = compareTensor(`logits[${start}..${start + size})`, { shape: logits.shape, data: logits.contiguousData() }, { shape: expected.shape, data: expected.contiguousData() }, TOLERANCE, positionMask);
            expect(c.pass, `${c.tensor}: ${c.maxError} > ${c.bound} (window ${config.slidingWindow}, prompt ${prompt}, length ${L})`).toBe(true);
          }
          expect(cache.length).toBe(L);
        },
      ),
      { numRuns: 25 },
    );
  });

  test('decoding far past the wrap: window 3, prompt 2, 40 single-token steps', () => {
    fc.assert(
      fc.property(configArb, fc.integer({ min: 1, max: 1_000_000 }), (base, seed) => {
        const layerTypes: LayerType[] = base.layerTypes.map((_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
        const config = { ...base, slidingWindow: 3, layerTypes };
        const model = randomModel(config, seed);
        const generator = new Generator(seed);
        const L = 42;
        const ids = Int32Array.from({ length: L }, () => generator.nextInt(config.vocabSize));
        const full = noGrad(() => model.forward({ inputIds: Tensor.fromData(ids, [1, L]) }).logits);
        const cache = new HybridCache(config, { batch: 1, maxCacheLen: L });
        for (const [start, size] of pieces(L, 2, [1])) {
          const logits = noGrad(() => model.forward({ inputIds: Tensor.fromData(ids.slice(start, start + size), [1, size]), cache }).logits);
          const expected = full.narrow(1, start, size);
          const c = compareTensor('logits', { shape: logits.shape, data: logits.contiguousData() }, { shape: expected.shape, data: expected.contiguousData() }, TOLERANCE);
          expect(c.pass, `step at ${start}: ${c.maxError} > ${c.bound}`).toBe(true);
        }
      }),
      { numRuns: 5 },
    );
  });
});

test('the cache refuses more positions than it holds, and another batch size', () => {
  fc.assert(
    fc.property(configArb, (config) => {
      const model = randomModel(config, 1);
      const cache = new HybridCache(config, { batch: 1, maxCacheLen: 3 });
      noGrad(() => model.forward({ inputIds: Tensor.fromData(Int32Array.of(1, 1), [1, 2]), cache }));
      expect(() => model.forward({ inputIds: Tensor.fromData(Int32Array.of(1, 1), [1, 2]), cache })).toThrow(/2 cached \+ 2 new positions exceed maxCacheLen 3/);
      expect(() => model.forward({ inputIds: Tensor.fromData(Int32Array.of(1, 1), [2, 1]), cache })).toThrow(/built for batch 1, called with batch 2/);
      cache.reset();
      expect(cache.length).toBe(0);
    }),
    { numRuns: 3 },
  );
});

test('the model uses its cache through ModelCache alone: begin, keyPositions for each kind of layer, every layer in order, advance', () => {
  fc.assert(
    fc.property(configArb, fc.integer({ min: 1, max: 4 }), (config, prompt) => {
      const model = randomModel(config, 3);
      const hybrid = new HybridCache(config, { batch: 1, maxCacheLen: prompt + 1 });
      const calls: string[] = [];
      // Any object with ModelCache's four methods is a cache to the model; this one records and delegates.
      const recording: ModelCache = {
        begin: (batch, length) => (calls.push(`begin ${batch} ${length}`), hybrid.begin(batch, length)),
        keyPositions: (sliding, length) => (calls.push(`keyPositions ${sliding ? 'sliding' : 'global'} ${length}`), hybrid.keyPositions(sliding, length)),
        layer: (i) => (calls.push(`layer ${i}`), hybrid.layer(i)),
        advance: (length) => (calls.push(`advance ${length}`), hybrid.advance(length)),
      };
      const ids = Int32Array.from({ length: prompt + 1 }, (_, t) => 1 + (t % (config.vocabSize - 1)));
      const full = noGrad(() => model.forward({ inputIds: Tensor.fromData(ids, [1, prompt + 1]) }).logits);
      noGrad(() => model.forward({ inputIds: Tensor.fromData(ids.slice(0, prompt), [1, prompt]), cache: recording }));
      const last = noGrad(() => model.forward({ inputIds: Tensor.fromData(ids.slice(prompt), [1, 1]), cache: recording }).logits);
      const layers = config.layerTypes.map((_, i) => `layer ${i}`);
      const call = (length: number) => [`begin 1 ${length}`, `keyPositions global ${length}`, `keyPositions sliding ${length}`, ...layers, `advance ${length}`];
      expect(calls).toEqual([...call(prompt), ...call(1)]);
      const expected = full.narrow(1, prompt, 1);
      const c = compareTensor('last logits', { shape: last.shape, data: last.contiguousData() }, { shape: expected.shape, data: expected.contiguousData() }, TOLERANCE);
      expect(c.pass, `${c.maxError} > ${c.bound}`).toBe(true);
    }),
    { numRuns: 3 },
  );
});
