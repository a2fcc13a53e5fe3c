import type { SessionStore } from '../session/store.js'
import type { BffMetrics } from './metrics.js'

/**
 * Wraps a store so every asynchronous operation reports its latency and failures, labelled
 * by operation name only. Callers see the same object and behaviour otherwise.
 */
export function instrumentStore<S extends SessionStore>(store: S, metrics: BffMetrics): S {
  // Keyed by the function itself, so a store whose methods change (tests) is followed.
  const wrapped = new WeakMap<object, unknown>()
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor')
        return value
      if (!wrapped.has(value)) {
        wrapped.set(value, (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args)
          if (!(result instanceof Promise)) return result
          const stop = metrics.storeDuration.startTimer({ operation: property })
          return result.then(
            (ok) => {
              stop()
              return ok
            },
            (error: unknown) => {
              stop()
              metrics.storeErrors.inc({ operation: property })
              throw error
            },
          )
        })
      }
      return wrapped.get(value)
    },
  })
}
