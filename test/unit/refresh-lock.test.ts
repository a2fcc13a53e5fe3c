import { describe, expect, it } from 'vitest'
import { elapsedMs } from '../../src/lib/clock.js'
import { NOTHING_SETTLED, RefreshLock } from '../../src/session/refresh-lock.js'
import type { LockStore } from '../../src/store/interfaces.js'
import { MemorySessionStore } from '../../src/store/memory-session-store.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('RefreshLock', () => {
  it('renews itself while held, so a slow holder keeps it past its first TTL', async () => {
    const lock = new RefreshLock(new MemorySessionStore(), 300)
    const held = await lock.tryAcquire('s1')
    expect(held).not.toBeNull()
    await sleep(900)
    expect(held?.held).toBe(true)
    expect(await lock.tryAcquire('s1')).toBeNull()
    await held?.release()
    expect(await lock.tryAcquire('s1')).not.toBeNull()
  })

  it('reports a lost lock when renewal finds another holder', async () => {
    const store = new MemorySessionStore()
    const lock = new RefreshLock(store, 150)
    const held = await lock.tryAcquire('s1')
    // Simulate the lock expiring under the holder and someone else taking it.
    await store.releaseLock('refresh:s1', 'not-the-token')
    await store.close()
    await store.acquireLock('refresh:s1', 10_000)
    await sleep(200)
    expect(held?.held).toBe(false)
    await held?.release()
  })
})

describe('RefreshLock.heldOrSettled', () => {
  it('runs the work under the lock and releases it after, also when the work fails', async () => {
    const lock = new RefreshLock(new MemorySessionStore(), 10_000)
    const heldDuring = await lock.heldOrSettled('s1', NOTHING_SETTLED, async () =>
      (await lock.tryAcquire('s1')) === null ? 'held' : 'free',
    )
    expect(heldDuring).toBe('held')
    await expect(
      lock.heldOrSettled('s1', NOTHING_SETTLED, async () => {
        throw new Error('the work failed')
      }),
    ).rejects.toThrow('the work failed')
    const again = await lock.tryAcquire('s1')
    expect(again).not.toBeNull()
    await again?.release()
  })

  it('waits for the holder, asking each round, and ends the wait with what settles it', async () => {
    const lock = new RefreshLock(new MemorySessionStore(), 10_000)
    const holder = await lock.tryAcquire('s1')
    const rounds: boolean[] = []
    let result: string | undefined
    setTimeout(() => {
      result = 'stored by the holder'
    }, 100)
    const got = await lock.heldOrSettled(
      's1',
      (waited) => {
        rounds.push(waited)
        return result
      },
      async () => 'took the lock',
    )
    expect(got).toBe('stored by the holder')
    expect(rounds[0]).toBe(false)
    expect(rounds.slice(1).every(Boolean)).toBe(true)
    expect(rounds.length).toBeGreaterThan(2)
    await holder?.release()
  })

  it('gives up with lock_timeout a second past the TTL when the holder never lets go', async () => {
    const heldElsewhere: LockStore = {
      acquireLock: async () => null,
      extendLock: async () => false,
      releaseLock: async () => false,
    }
    const lock = new RefreshLock(heldElsewhere, 150)
    const startedAt = elapsedMs()
    await expect(
      lock.heldOrSettled('s1', NOTHING_SETTLED, async () => 'took the lock'),
    ).rejects.toMatchObject({ code: 'lock_timeout', status: 503 })
    const waitedMs = elapsedMs() - startedAt
    expect(waitedMs).toBeGreaterThanOrEqual(1100)
    expect(waitedMs).toBeLessThan(2500)
  })
})
