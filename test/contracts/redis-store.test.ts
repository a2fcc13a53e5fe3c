import { describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { createRedisStores } from '../../src/store/redis-stores.js'
import { storeSetContract } from './store-set.contract.js'

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

storeSetContract('redis', async () => {
  const stores = createRedisStores({
    url: inject('redisUrl'),
    keyPrefix: `contract-${randomId(6)}:`,
  })
  await stores.ping()
  const { redis, keyPrefix } = stores.connections
  return {
    stores,
    advance: wait,
    residentKeys: () => redis.keys(`${keyPrefix}*`),
    cleanup: () => stores.close(),
  }
})

describe('Redis keys', () => {
  const stores = () =>
    createRedisStores({ url: inject('redisUrl'), keyPrefix: `keys-${randomId(6)}:` })

  it('puts each index under its own hash tag, so a Cluster keeps it in one slot', async () => {
    const s = stores()
    try {
      await s.ping()
      await s.indexes.indexSession('k1', { iss: 'https://idp.example', sub: 'a', sid: 's' }, 60_000)
      const keys = await s.connections.redis.keys(`${s.connections.keyPrefix}idx:*`)
      expect(keys).toHaveLength(2)
      for (const key of keys) expect(key).toMatch(/^keys-[\w-]+:idx:(sid|sub):\{[\w-]{43}\}$/)
    } finally {
      await s.close()
    }
  })

  it('gives a rate-limit counter found without a TTL one on its next hit, so it cannot block for ever', async () => {
    const s = stores()
    try {
      await s.ping()
      const { redis, keyPrefix } = s.connections
      await redis.set(`${keyPrefix}rl:k`, '7')
      const { count, resetMs } = await s.rateLimits.hit('k', 10_000, 2)
      expect(count).toBe(9)
      expect(resetMs).toBe(10_000)
      const ttl = await redis.pttl(`${keyPrefix}rl:k`)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(10_000)
    } finally {
      await s.close()
    }
  })
})
