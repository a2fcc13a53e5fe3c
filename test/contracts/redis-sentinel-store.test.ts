import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { createRedisStores } from '../../src/store/redis-stores.js'
import { startRedisSentinel, type TestRedisSentinel } from '../support/redis-sentinel.js'
import { storeSetContract } from './store-set.contract.js'

describe('Redis through Sentinel', () => {
  let sentinel: TestRedisSentinel
  beforeAll(async () => {
    sentinel = await startRedisSentinel()
  })
  afterAll(async () => {
    await sentinel?.stop()
  })

  storeSetContract('redis sentinel', async () => {
    const stores = createRedisStores({
      target: { sentinels: sentinel.sentinels, sentinelName: sentinel.masterName },
      keyPrefix: `sentinel-${randomId(6)}:`,
    })
    await stores.ping(5000)
    const { redis, keyPrefix } = stores.connections
    return {
      stores,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      residentKeys: () => (redis as Redis).keys(`${keyPrefix}*`),
      cleanup: () => stores.close(),
    }
  })
})
