import { afterEach, describe, expect, inject, it, vi } from 'vitest'
import { BffError } from '../../src/errors/bff-error.js'
import { systemClock } from '../../src/lib/clock.js'
import { randomId } from '../../src/lib/random.js'
import { BatchedRateLimiter, type Schedule } from '../../src/rate-limit/batched-rate-limiter.js'
import { limiterKey, type RateLimit } from '../../src/rate-limit/rate-limiter.js'
import { RedisRateLimitStore } from '../../src/rate-limit/redis-rate-limit-store.js'
import type { RateCount, RateLimitStore } from '../../src/rate-limit/store.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { until } from '../support/until.js'

const LIMIT: RateLimit = { limit: 20, windowSeconds: 60 }
/** The bound of BatchedRateLimiter with K instances: L + K·(⌈L/2⌉ − 1). */
const worstCase = (instances: number) => LIMIT.limit + instances * (Math.ceil(LIMIT.limit / 2) - 1)

/** A flush that waits for the test to call it (the deterministic interleavings). */
const manual: Schedule = () => () => {}

/**
 * Two broker instances: each its own Redis connection and its own limiter, one key prefix on
 * the run's real redis-server.
 */
async function twoInstances() {
  const keyPrefix = `brl-${randomId(6)}:`
  const connect = async () => {
    const sessions = new RedisSessionStore({ url: inject('redisUrl'), keyPrefix })
    connections.push(sessions)
    await sessions.ping()
    return sessions
  }
  const connections: RedisSessionStore[] = []
  const reader = await connect()
  const instance = async (schedule?: Schedule) => {
    const sessions = await connect()
    const store = new RedisRateLimitStore(sessions.redis, sessions.keyPrefix)
    const limiter = new BatchedRateLimiter(store, 'api', LIMIT, {
      clock: systemClock,
      ...(schedule ? { schedule } : {}),
    })
    /** Resolves to whether the request was admitted; anything but a 429 fails the test. */
    const request = (id: string) =>
      Promise.resolve(limiter.count(id)).then(
        () => true,
        (error: unknown) => {
          if (error instanceof BffError && error.code === 'rate_limited') return false
          throw error
        },
      )
    return { limiter, request, sessions }
  }
  return {
    instance,
    /** The window's count in Redis for `id`. */
    async storedCount(id: string): Promise<number> {
      return Number(await reader.redis.get(`${keyPrefix}rl:${limiterKey('api', id)}`))
    },
    async close() {
      for (const sessions of connections) await sessions.close()
    },
  }
}

describe('BatchedRateLimiter on two instances sharing one Redis', () => {
  let setup: Awaited<ReturnType<typeof twoInstances>>
  afterEach(async () => {
    await setup.close()
  })

  it('overshoots by no more than the local hits the other instance had not sent yet (worst case)', async () => {
    setup = await twoInstances()
    const a = await setup.instance(manual)
    const b = await setup.instance(manual)
    const session = `session-${randomId(6)}`
    let admitted = 0
    const count = async (ok: Promise<boolean>) => {
      if (await ok) admitted++
    }
    await count(a.request(session)) // store: 1
    await count(b.request(session)) // store: 2
    // B counts locally until its 2 known + 8 pending reach half the limit; nothing is sent.
    for (let i = 0; i < 8; i++) await count(b.request(session))
    expect(await setup.storedCount(session)).toBe(2)
    // A does the same with 9, then goes to Redis with every request until it is refused.
    for (let i = 0; i < 19; i++) await count(a.request(session))
    expect(await a.request(session)).toBe(false)
    expect(admitted).toBe(LIMIT.limit + 8)
    // B's next request carries its 8 hits to Redis, learns the count and is refused.
    expect(await b.request(session)).toBe(false)
    expect(admitted).toBeLessThanOrEqual(worstCase(2))
    // Every one of the 31 requests reached Redis exactly once, refused ones included.
    expect(await setup.storedCount(session)).toBe(31)
    for (const instance of [a, b]) expect(await instance.request(session)).toBe(false)
  })

  it('holds one session to the bound across both, under concurrent traffic and real flushes', async () => {
    setup = await twoInstances()
    const instances = [await setup.instance(), await setup.instance()]
    const session = `session-${randomId(6)}`
    const results: boolean[] = []
    // 150 requests, 5 at a time, alternating instances, for about 300 ms: several flushes.
    for (let burst = 0; burst < 30; burst++) {
      const batch = Array.from({ length: 5 }, (_, i) =>
        (instances[(burst + i) % 2] as (typeof instances)[0]).request(session),
      )
      results.push(...(await Promise.all(batch)))
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    for (const { limiter } of instances) await limiter.close()
    const admitted = results.filter(Boolean).length
    expect(admitted).toBeGreaterThanOrEqual(LIMIT.limit)
    expect(admitted).toBeLessThanOrEqual(worstCase(2))
    // Every request reached Redis exactly once, in a batch or on its own.
    expect(await setup.storedCount(session)).toBe(results.length)
  })

  it('keeps sessions apart: one session past its limit does not limit another', async () => {
    setup = await twoInstances()
    const a = await setup.instance(manual)
    const b = await setup.instance(manual)
    const [busy, quiet] = [`busy-${randomId(6)}`, `quiet-${randomId(6)}`]
    for (let i = 0; i < 40; i++) await (i % 2 ? a : b).request(busy)
    expect(await a.request(busy)).toBe(false)
    expect(await b.request(quiet)).toBe(true)
    expect(await a.request(quiet)).toBe(true)
  })

  it('answers 503 store_unavailable once the Redis connection is gone, keeping the hits it could not send', async () => {
    setup = await twoInstances()
    const a = await setup.instance(manual)
    const session = `session-${randomId(6)}`
    for (let i = 0; i < 3; i++) expect(await a.request(session)).toBe(true)
    a.sessions.redis.disconnect()
    // Fully closed first: a command issued while the connection is still closing can reach Redis.
    await until(() => a.sessions.redis.status === 'end', 'the connection to close')
    await a.limiter.flush()
    const refused = await Promise.resolve(a.limiter.count(session)).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(BffError)
    expect((refused as BffError).code).toBe('store_unavailable')
    expect(await setup.storedCount(session)).toBe(1)
    await a.sessions.redis.connect()
    expect(await a.request(session)).toBe(true)
    // The first request, the 2 counted locally, and this one (the refused one is not).
    expect(await setup.storedCount(session)).toBe(4)
  })
})

/** The broker's rate-limit store, with every /api hit recorded. */
class RecordingStore implements RateLimitStore {
  readonly apiIncrements: number[] = []
  inner: RateLimitStore | null = null
  async hit(key: string, windowMs: number, increment = 1): Promise<RateCount> {
    if (key.startsWith('api:')) this.apiIncrements.push(increment)
    if (!this.inner) throw new Error('no store yet')
    return this.inner.hit(key, windowMs, increment)
  }
}

describe('the broker’s /api limit', () => {
  const sessions = new RedisSessionStore({
    url: inject('redisUrl'),
    keyPrefix: `brl-broker-${randomId(6)}:`,
  })
  const recording = new RecordingStore()
  recording.inner = new RedisRateLimitStore(sessions.redis, sessions.keyPrefix)
  const t = useScriptedBroker(
    { rateLimitApi: { limit: 1200, windowSeconds: 60 } },
    { store: sessions, rateLimitStore: recording },
  )

  it('costs one Redis call for the first proxied request of a session, then one per flush', async () => {
    const { browser } = await t.signIn()
    for (let i = 0; i < 4; i++) {
      expect((await t.apiCall(browser, `/api/echo/${i}`)).status).toBe(200)
    }
    const sum = () => recording.apiIncrements.reduce((total, n) => total + n, 0)
    await vi.waitFor(() => expect(sum()).toBe(4))
    expect(recording.apiIncrements[0]).toBe(1)
    expect(recording.apiIncrements.length).toBeLessThan(4)
  })
})
