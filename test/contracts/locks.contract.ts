import { describe, expect, it } from 'vitest'
import { type MakeStores, useStores } from './stores-under-test.js'

/** What every set's locks (LockStore) must do. */
export function locksContract(make: MakeStores) {
  describe('locks (LockStore)', () => {
    const t = useStores(make)
    const locks = () => t().stores.locks

    it('a lock has one holder, and only the holder releases it', async () => {
      const token = await locks().acquireLock('l1', 60_000)
      expect(token).toBeTruthy()
      expect(await locks().acquireLock('l1', 60_000)).toBeNull()
      expect(await locks().releaseLock('l1', 'someone-else')).toBe(false)
      expect(await locks().acquireLock('l1', 60_000)).toBeNull()
      expect(await locks().releaseLock('l1', token as string)).toBe(true)
      expect(await locks().acquireLock('l1', 60_000)).toBeTruthy()
    })

    it('lets exactly one of several concurrent callers take a lock', async () => {
      const tokens = await Promise.all(
        Array.from({ length: 5 }, () => locks().acquireLock('l1', 60_000)),
      )
      expect(tokens.filter(Boolean)).toHaveLength(1)
    })

    it('only the holder extends a lock, and an extended lock outlives its first TTL', async () => {
      const token = (await locks().acquireLock('l1', 200)) as string
      expect(await locks().extendLock('l1', 'someone-else', 60_000)).toBe(false)
      expect(await locks().extendLock('l1', token, 60_000)).toBe(true)
      await t().advance(400)
      expect(await locks().acquireLock('l1', 60_000)).toBeNull()
      expect(await locks().releaseLock('l1', token)).toBe(true)
    })

    it('an expired lock cannot be extended by its old holder', async () => {
      const token = (await locks().acquireLock('l1', 150)) as string
      await t().advance(400)
      expect(await locks().extendLock('l1', token, 60_000)).toBe(false)
    })

    it('an expired lock can be taken by another holder, and the old holder cannot release it', async () => {
      const first = await locks().acquireLock('l1', 150)
      await t().advance(400)
      const second = await locks().acquireLock('l1', 60_000)
      expect(second).toBeTruthy()
      expect(await locks().releaseLock('l1', first as string)).toBe(false)
      expect(await locks().acquireLock('l1', 60_000)).toBeNull()
    })
  })
}
