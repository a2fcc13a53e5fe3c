import { afterAll, beforeAll, describe } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
import { startRedisSentinel, type TestRedisSentinel } from '../support/redis-sentinel.js'
import { sessionStoreContract } from './session-store.contract.js'

describe('Redis through Sentinel', () => {
  let sentinel: TestRedisSentinel
  beforeAll(async () => {
    sentinel = await startRedisSentinel()
  })
  afterAll(async () => {
    await sentinel?.stop()
  })

  sessionStoreContract('redis sentinel', async () => {
    const store = new RedisSessionStore({
      target: { sentinels: sentinel.sentinels, sentinelName: sentinel.masterName },
      keyPrefix: `sentinel-${randomId(6)}:`,
    })
    await store.ping(5000)
    return {
      store,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      residentKeys: () => (store.redis as import('ioredis').Redis).keys(`${store.keyPrefix}*`),
      cleanup: () => store.close(),
    }
  })
})
