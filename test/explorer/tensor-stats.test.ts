import { describe, expect, test } from 'vitest';
import { histogram, slice2D, summarize } from '../../lib/explorer/views/tensor-stats.ts';

describe('tensor panel numbers', () => {
  test('summary: min, max, mean, norm over the finite values, non-finite counted', () => {
    const s = summarize([3, -4, NaN, Infinity, 1]);
    expect(s).toEqual({ min: -4, max: 3, mean: 0, norm: Math.sqrt(26), nonFinite: 2 });
  });

  test('histogram: equal bins, the maximum in the last, every finite value counted once', () => {
    const h = histogram([0, 1, 2, 3, 4, -Infinity], 4);
    expect(h).toEqual({ low: 0, high: 4, counts: [1, 1, 1, 2] });
    expect(histogram([5, 5], 3).counts).toEqual([2, 0, 0]);
    expect(() => histogram([1], 0)).toThrow(/bins must be a positive integer/);
  });

  test('slice2D picks the matrix at the leading indices', () => {
    const data = Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i); // [2, 3, 2, 2]
    const s = slice2D(data, [2, 3, 2, 2], [1, 2]);
    expect(s.rows).toBe(2);
    expect(Array.from(s.values)).toEqual([20, 21, 22, 23]);
    expect(slice2D([7, 8], [2], []).cols).toBe(2);
    expect(() => slice2D(data, [2, 3, 2, 2], [2, 0])).toThrow(/leading indices \[2, 0\] do not fit the axes \[2, 3\]/);
  });
});
