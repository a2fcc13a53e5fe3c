import { inject } from 'vitest'
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
    cleanup: () => store.close(),
  }
})
