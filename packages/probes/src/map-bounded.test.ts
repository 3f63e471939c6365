import { describe, expect, it } from 'vitest';
import { mapBounded } from './map-bounded.js';

describe('mapBounded', () => {
  it('never runs more than the limit at once and keeps the order', async () => {
    let running = 0;
    let peak = 0;
    const items = Array.from({ length: 25 }, (_, index) => index);
    const results = await mapBounded(items, 4, async (item) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, item % 3));
      running -= 1;
      return item * 2;
    });
    expect(peak).toBe(4);
    expect(results).toEqual(items.map((item) => item * 2));
  });

  it('handles an empty list', async () => {
    expect(await mapBounded([], 3, async () => 1)).toEqual([]);
  });
});
