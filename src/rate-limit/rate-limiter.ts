import { BffError } from '../errors/bff-error.js'
import { sha256 } from '../lib/random.js'
import { storeCall } from '../session/session-service.js'
import type { RateLimitStore } from './store.js'

export interface RateLimit {
  limit: number
  windowSeconds: number
}

/**
 * One limit (e.g. sign-ins per client address per minute). Keys are hashed, so the store
 * never holds client addresses or session keys in clear. A store failure is a 503
 * (fail closed, like every other store call).
 */
export class RateLimiter {
  readonly #store: RateLimitStore
  readonly #bucket: string
  readonly #limit: RateLimit

  constructor(store: RateLimitStore, bucket: string, limit: RateLimit) {
    if (!Number.isInteger(limit.limit) || limit.limit < 1 || limit.windowSeconds < 1) {
      throw new Error(`rate limit ${bucket}: expected a positive limit and window`)
    }
    this.#store = store
    this.#bucket = bucket
    this.#limit = limit
  }

  /** Counts one request of `id`; throws `rate_limited` (429 with Retry-After) past the limit. */
  async check(id: string): Promise<void> {
    const key = `${this.#bucket}:{${sha256(id)}}`
    const { count, resetMs } = await storeCall(`rate limit ${this.#bucket}`, () =>
      this.#store.hit(key, this.#limit.windowSeconds * 1000),
    )
    if (count > this.#limit.limit) {
      throw new BffError('rate_limited', {
        retryAfterSeconds: Math.max(1, Math.ceil(resetMs / 1000)),
        detail: `${this.#bucket}: ${count} requests in the window (limit ${this.#limit.limit})`,
      })
    }
  }
}
