import { withEachStore } from '../store/each-store.js'
import type { StoreSet } from '../store/interfaces.js'
import type { CircuitBreaker } from './circuit-breaker.js'
import { CircuitOpenError } from './circuit-open-error.js'

/** Methods that are not store commands a request waits on. */
const UNGUARDED = new Set(['close', 'changes', 'constructor'])
/**
 * Always sent, even while the circuit is open: the readiness check, and the commands that undo
 * what a failed operation left behind (a remembered logout token id, so the provider's retry
 * is not taken for a replay; a refresh lock, so it does not outlive its holder). Refusing them
 * would turn one failed command into a lost logout or a lock held to its TTL.
 */
const NEVER_REFUSED = new Set(['ping', 'forget', 'releaseLock'])

/**
 * Puts every command of a store (the session store, or the rate-limit counters in the same
 * Redis) behind the store's circuit: while it is open, a command fails at
 * once (503 store_unavailable with Retry-After) instead of waiting out the command timeout,
 * so no request waits on a store already known down for more than the one command that found
 * it down. Any failed command counts (the Redis client fails only on timeouts and lost
 * connections; the store turns answers it dislikes into values, not errors). A few commands
 * are never refused (NEVER_REFUSED); their answers count like any command's.
 */
export function guardStore<S extends object>(store: S, circuit: CircuitBreaker): S {
  const wrapped = new WeakMap<object, unknown>()
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || typeof property !== 'string' || UNGUARDED.has(property))
        return value
      if (!wrapped.has(value)) {
        const refusable = !NEVER_REFUSED.has(property)
        wrapped.set(value, (...args: unknown[]) => {
          if (refusable && !circuit.allow()) {
            return Promise.reject(new CircuitOpenError('store_unavailable', circuit))
          }
          let result: unknown
          try {
            result = (value as (...a: unknown[]) => unknown).apply(target, args)
          } catch (error) {
            circuit.failure()
            throw error
          }
          if (!(result instanceof Promise)) {
            circuit.release()
            return result
          }
          return result.then(
            (ok) => {
              circuit.success()
              return ok
            },
            (error: unknown) => {
              circuit.failure()
              throw error
            },
          )
        })
      }
      return wrapped.get(value)
    },
  })
}

/** Every store of the set behind the store's one circuit (see above). */
export function guardStores(stores: StoreSet, circuit: CircuitBreaker): StoreSet {
  return withEachStore(stores, (store) => guardStore(store, circuit))
}
