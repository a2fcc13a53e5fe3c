import { inject } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
import type { SessionStore } from '../../src/session/store.js'

/**
 * The real Redis store (the run's redis-server, its own key prefix), whose `operation` fails
 * with a connection error while `failing` is set — a Redis that breaks half-way through.
 */
export function storeFailingAt(operation: keyof SessionStore) {
  const control = { failing: false }
  const inner = new RedisSessionStore({
    url: inject('redisUrl'),
    keyPrefix: `failing-${randomId(4)}:`,
  })
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === operation && control.failing)
        return () => Promise.reject(new Error('connection lost'))
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, control }
}
