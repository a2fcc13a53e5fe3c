import { describe, expect, it } from 'vitest'
import { type MakeStores, useStores } from './stores-under-test.js'

/** What every set's rate-limit counters (RateLimitStore) must do. */
export function rateLimitsContract(make: MakeStores) {
  describe('rate limits (RateLimitStore)', () => {
    const stores = useStores(make)
    const t = {
      get store() {
        return stores().stores.rateLimits
      },
      advance: (ms: number) => stores().advance(ms),
    }

    it('counts the hits of one key within a window', async () => {
      const counts = []
      for (let i = 0; i < 4; i++) counts.push((await t.store.hit('k', 10_000)).count)
      expect(counts).toEqual([1, 2, 3, 4])
    })

    it('reports a reset time within the window', async () => {
      const { resetMs } = await t.store.hit('k', 10_000)
      expect(resetMs).toBeGreaterThan(0)
      expect(resetMs).toBeLessThanOrEqual(10_000)
    })

    it('keeps keys apart', async () => {
      await t.store.hit('a', 10_000)
      await t.store.hit('a', 10_000)
      expect((await t.store.hit('b', 10_000)).count).toBe(1)
    })

    it('starts again after the window', async () => {
      await t.store.hit('k', 100)
      await t.store.hit('k', 100)
      await t.advance(150)
      expect((await t.store.hit('k', 100)).count).toBe(1)
    })

    it('does not stretch the window with later hits', async () => {
      await t.store.hit('k', 300)
      await t.advance(200)
      const { resetMs } = await t.store.hit('k', 300)
      expect(resetMs).toBeLessThanOrEqual(100)
    })

    it('adds the increment of a batched hit to the count', async () => {
      const counts = []
      for (const increment of [5, 1, 3]) {
        counts.push((await t.store.hit('k', 10_000, increment)).count)
      }
      expect(counts).toEqual([5, 6, 9])
    })

    it('starts a window with its first hit, whatever the increment', async () => {
      const first = await t.store.hit('k', 100, 4)
      expect(first.count).toBe(4)
      expect(first.resetMs).toBeGreaterThan(0)
      expect(first.resetMs).toBeLessThanOrEqual(100)
      await t.advance(150)
      expect((await t.store.hit('k', 100, 2)).count).toBe(2)
    })

    it('does not stretch the window with later increments', async () => {
      await t.store.hit('k', 300, 2)
      await t.advance(200)
      const { count, resetMs } = await t.store.hit('k', 300, 7)
      expect(count).toBe(9)
      expect(resetMs).toBeLessThanOrEqual(100)
    })

    it.each([0, -1, 1.5, Number.NaN])('refuses the increment %s', async (increment) => {
      await expect(t.store.hit('k', 10_000, increment)).rejects.toThrow(RangeError)
      expect((await t.store.hit('k', 10_000)).count).toBe(1)
    })

    it('adds concurrent increments exactly once each', async () => {
      const counts = await Promise.all(
        Array.from({ length: 20 }, () => t.store.hit('k', 10_000, 3).then((r) => r.count)),
      )
      expect(new Set(counts).size).toBe(20)
      expect(counts.every((count) => count % 3 === 0)).toBe(true)
      expect(Math.max(...counts)).toBe(60)
    })

    it('counts concurrent hits exactly once each', async () => {
      const counts = await Promise.all(
        Array.from({ length: 50 }, () => t.store.hit('k', 10_000).then((r) => r.count)),
      )
      expect(new Set(counts).size).toBe(50)
      expect(Math.max(...counts)).toBe(50)
    })
  })
}
