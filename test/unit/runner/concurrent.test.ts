import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { settledAll, settledMap } from '../../../src/runner/concurrent.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('settledMap', () => {
  it('keeps input order, never runs more than the limit at once', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.nat(5), { maxLength: 30 }), fc.integer({ min: 1, max: 6 }), async (delays, limit) => {
      let running = 0;
      let peak = 0;
      const out = await settledMap(delays, limit, async (d, i) => {
        running++;
        peak = Math.max(peak, running);
        await tick(d);
        running--;
        return i * 10 + d;
      });
      expect(out).toEqual(delays.map((d, i) => i * 10 + d));
      expect(peak).toBeLessThanOrEqual(limit);
    }), { numRuns: 40 });
  });

  it('throws the first failure in input order, only once every call has ended', async () => {
    const ended: number[] = [];
    const e = await settledMap([30, 0, 10, 5], 4, async (d, i) => {
      await tick(d);
      ended.push(i);
      if (i === 2 || i === 3) throw new Error(`failed ${i}`);
      return i;
    }).catch((x: unknown) => x);
    // 3 fails first in time, 2 first in input order; 0 (the slowest) had ended before the throw
    expect((e as Error).message).toBe('failed 2');
    expect([...ended].sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('settledAll', () => {
  it('gives each thunk its own typed result', async () => {
    const [a, b] = await settledAll([async () => 1, async () => 'two'] as const);
    expect([a, b]).toEqual([1, 'two']);
  });
});
