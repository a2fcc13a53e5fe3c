import { describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisRateLimitStore } from '../../src/rate-limit/redis-rate-limit-store.js'
import { MemoryRateLimitStore } from '../../src/rate-limit/store.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
import { rateLimitStoreContract } from './rate-limit-store.contract.js'

rateLimitStoreContract('memory', async () => {
  let now = 1_000_000
  return {
    store: new MemoryRateLimitStore({ now: () => now }),
    advance: async (ms) => {
      now += ms
    },
    cleanup: async () => {},
  }
})

rateLimitStoreContract('redis', async () => {
  const sessions = new RedisSessionStore({
    url: inject('redisUrl'),
    keyPrefix: `rl-${randomId(6)}:`,
  })
  await sessions.ping()
  return {
    store: new RedisRateLimitStore(sessions.redis, sessions.keyPrefix),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    cleanup: () => sessions.close(),
  }
})

describe('Redis rate-limit counters', () => {
  it('give a counter found without a TTL one on its next hit, so it cannot block for ever', async () => {
    const sessions = new RedisSessionStore({
      url: inject('redisUrl'),
      keyPrefix: `rl-${randomId(6)}:`,
    })
    try {
      await sessions.ping()
      const store = new RedisRateLimitStore(sessions.redis, sessions.keyPrefix)
      await sessions.redis.set(`${sessions.keyPrefix}rl:k`, '7')
      const { count, resetMs } = await store.hit('k', 10_000, 2)
      expect(count).toBe(9)
      expect(resetMs).toBe(10_000)
      const ttl = await sessions.redis.pttl(`${sessions.keyPrefix}rl:k`)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(10_000)
    } finally {
      await sessions.close()
    }
  })
})
