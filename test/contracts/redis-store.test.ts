import { describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
import { sessionStoreContract } from './session-store.contract.js'

sessionStoreContract('redis', async () => {
  const store = new RedisSessionStore({
    url: inject('redisUrl'),
    keyPrefix: `contract-${randomId(6)}:`,
  })
  await store.ping()
  return {
    store,
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    residentKeys: () => store.redis.keys(`${store.keyPrefix}*`),
    cleanup: () => store.close(),
  }
})

describe('Redis index keys', () => {
  it('puts each index under its own hash tag, so a Cluster keeps it in one slot', async () => {
    const store = new RedisSessionStore({
      url: inject('redisUrl'),
      keyPrefix: `tags-${randomId(6)}:`,
    })
    try {
      await store.ping()
      await store.indexSession('k1', { iss: 'https://idp.example', sub: 'a', sid: 's' }, 60_000)
      const keys = await store.redis.keys(`${store.keyPrefix}idx:*`)
      expect(keys).toHaveLength(2)
      for (const key of keys) expect(key).toMatch(/^tags-[\w-]+:idx:(sid|sub):\{[\w-]{43}\}$/)
    } finally {
      await store.close()
    }
  })
})
