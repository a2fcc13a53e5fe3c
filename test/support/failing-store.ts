import { inject } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import type { StoreMember } from '../../src/store/each-store.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { createRedisStores, type RedisStoreSet } from '../../src/store/redis-stores.js'

/**
 * The real Redis stores (the run's redis-server, their own key prefix), whose `member`'s
 * `operation` fails with a connection error while `failing` is set — a Redis that breaks
 * half-way through.
 */
export function storeFailingAt<M extends StoreMember>(
  member: M,
  operation: keyof RedisStoreSet[M],
) {
  const control = { failing: false }
  const stores = createRedisStores({
    url: inject('redisUrl'),
    keyPrefix: `failing-${randomId(4)}:`,
  })
  const failing = new Proxy(stores[member], {
    get(target, prop, receiver) {
      if (prop === operation && control.failing)
        return () => Promise.reject(new Error('connection lost'))
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const store = new RedisSessionStore({ ...stores, [member]: failing } as RedisStoreSet)
  return { store, control }
}
