import { describe, expect, it } from 'vitest'
import { elapsedMs } from '../../src/lib/clock.js'
import { Backoff, RefreshLock } from '../../src/session/refresh-lock.js'
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

describe('Backoff', () => {
  it('gives up with lock_timeout at its deadline instead of waiting forever', async () => {
    const backoff = new Backoff(elapsedMs() + 100, 10, 40)
    const startedAt = Date.now()
    await expect(
      (async () => {
        for (;;) await backoff.wait()
      })(),
    ).rejects.toMatchObject({ code: 'lock_timeout', status: 503 })
    expect(Date.now() - startedAt).toBeLessThan(400)
  })
})
