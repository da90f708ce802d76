// The distribution the controls draw is the one sampleToken draws from
// (lib/generation/sampling.ts: temperature -> top-k -> top-p -> softmax).

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { sampleToken } from '../../lib/generation/sampling.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { mostProbable, nextTokenDistribution } from '../../lib/explorer/views/distribution.ts';

const logitsArbitrary = fc.array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: 2, maxLength: 40 });
const controlsArbitrary = fc.record({
  temperature: fc.double({ min: 0.05, max: 5, noNaN: true }),
  topK: fc.integer({ min: 0, max: 45 }),
  topP: fc.double({ min: 0.01, max: 1, noNaN: true }),
});

describe('next-token distribution', () => {
  test('sampleToken draws exactly where the distribution puts probability (same draw, same token)', () => {
    fc.assert(
      fc.property(logitsArbitrary, controlsArbitrary, fc.integer({ min: 0, max: 1000 }), (logits, controls, seed) => {
        const probabilities = nextTokenDistribution(logits, controls);
        const sampled = sampleToken(logits, [], controls, new Generator(seed));
        // the same uniform u against our cumulative distribution picks the same token
        const u = new Generator(seed).nextFloat();
        let cumulative = 0;
        let ours = probabilities.length - 1;
        for (let i = 0; i < probabilities.length; i++) {
          cumulative += probabilities[i];
          if (u < cumulative) {
            ours = i;
            break;
          }
        }
        expect(probabilities[sampled]).toBeGreaterThan(0);
        expect(sampled).toBe(ours);
      }),
    );
  });

  test('top-k keeps k tokens, top-p the smallest set reaching p, temperature sharpens', () => {
    const logits = [4, 3, 2, 1, 0];
    expect(Array.from(nextTokenDistribution(logits, { temperature: 1, topK: 2, topP: 1 })).filter((p) => p > 0)).toHaveLength(2);
    const plain = nextTokenDistribution(logits, { temperature: 1, topK: 0, topP: 1 });
    // p(0) + p(1) = 0.9 > 0.85: the nucleus holds tokens 0 and 1 only
    const nucleus = nextTokenDistribution(logits, { temperature: 1, topK: 0, topP: 0.85 });
    expect(Array.from(nucleus.keys()).filter((i) => nucleus[i] > 0)).toEqual([0, 1]);
    expect(nucleus[0]).toBeCloseTo(plain[0] / (plain[0] + plain[1]), 12);
    expect(nextTokenDistribution(logits, { temperature: 0.5, topK: 0, topP: 1 })[0]).toBeGreaterThan(plain[0]);
    expect(mostProbable(plain, 2).map((t) => t.id)).toEqual([0, 1]);
  });

  test('bad controls are errors naming the control', () => {
    expect(() => nextTokenDistribution([1, 2], { temperature: 0, topK: 0, topP: 1 })).toThrow(/temperature must be a positive number/);
    expect(() => nextTokenDistribution([1, 2], { temperature: 1, topK: -1, topP: 1 })).toThrow(/topK must be a non-negative integer/);
    expect(() => nextTokenDistribution([1, 2], { temperature: 1, topK: 0, topP: 0 })).toThrow(/topP must be in \(0, 1\]/);
  });
});
