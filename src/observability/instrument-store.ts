import { BffError } from '../errors/bff-error.js'
import { withEachStore } from '../store/each-store.js'
import type { StoreSet } from '../store/interfaces.js'
import type { BffMetrics } from './metrics.js'
import { endClientSpan, startClientSpan } from './tracing.js'

/**
 * Wraps a store so every asynchronous operation reports its latency and failures (with
 * `metrics`) and, while tracing is on, runs in a CLIENT span `store.<operation>`: labelled by
 * operation name only, never a key or a value (keys are session hashes: left out all the
 * same). Callers see the same object and behaviour otherwise. `kind` names the backend
 * (`db.system` is `redis` for Redis).
 */
export function instrumentStore<S extends object>(
  store: S,
  { metrics, kind }: { metrics?: BffMetrics; kind: 'redis' | 'memory' },
): S {
  const attributes = (operation: string) =>
    kind === 'redis'
      ? { 'db.system': 'redis', 'db.operation.name': operation }
      : { 'bff.store': 'memory', 'db.operation.name': operation }
  // Keyed by the function itself, so a store whose methods change (tests) is followed.
  const wrapped = new WeakMap<object, unknown>()
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor')
        return value
      if (!wrapped.has(value)) {
        const name = `store.${property}`
        const spanAttributes = attributes(property)
        wrapped.set(value, (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args)
          if (!(result instanceof Promise)) return result
          const stop = metrics?.storeDuration.startTimer({ operation: property })
          const span = startClientSpan(name, spanAttributes)
          return result.then(
            (ok) => {
              stop?.()
              if (span) endClientSpan(span)
              return ok
            },
            (error: unknown) => {
              stop?.()
              metrics?.storeErrors.inc({ operation: property })
              // Store failures answer 503 store_unavailable (errors/store-call.ts).
              if (span)
                endClientSpan(span, error instanceof BffError ? error.code : 'store_unavailable')
              throw error
            },
          )
        })
      }
      return wrapped.get(value)
    },
  })
}

/**
 * Every store of the set instrumented (see above). The rate-limit counters get spans but no
 * metrics: the store histograms are of the session stores' calls.
 */
export function instrumentStores(stores: StoreSet, metrics: BffMetrics): StoreSet {
  const { kind } = stores
  return withEachStore(stores, (store, member) =>
    instrumentStore(store, member === 'rateLimits' ? { kind } : { metrics, kind }),
  )
}
