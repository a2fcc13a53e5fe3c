import { describe, expect, it } from 'vitest'
import { type MakeStores, useStores } from './stores-under-test.js'

/** What every set's logout-token replay cache (ReplayCache) must do. */
export function replayCacheContract(make: MakeStores) {
  describe('replay cache (ReplayCache)', () => {
    const t = useStores(make)
    const replays = () => t().stores.replayCache

    it('remembers an id once until its TTL runs out, and leaves no key behind', async () => {
      expect(await replays().rememberOnce('jti-1', 150)).toBe(true)
      expect(await replays().rememberOnce('jti-1', 150)).toBe(false)
      expect(await replays().rememberOnce('jti-2', 150)).toBe(true)
      await t().advance(400)
      expect(await t().residentKeys()).toEqual([])
      expect(await replays().rememberOnce('jti-1', 150)).toBe(true)
    })

    it('remembers an id again once it was forgotten', async () => {
      expect(await replays().rememberOnce('jti-1', 60_000)).toBe(true)
      await replays().forget('jti-1')
      expect(await replays().rememberOnce('jti-1', 60_000)).toBe(true)
      expect(await replays().rememberOnce('jti-1', 60_000)).toBe(false)
      await replays().forget('never-remembered')
    })

    it('lets exactly one of several concurrent callers remember an id', async () => {
      const results = await Promise.all(
        Array.from({ length: 5 }, () => replays().rememberOnce('jti-1', 60_000)),
      )
      expect(results.filter(Boolean)).toHaveLength(1)
    })
  })
}
