import { inject } from 'vitest'
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
