import { BffError } from '../errors/bff-error.js'
import { storeCall } from '../errors/store-call.js'
import { sha256 } from '../lib/random.js'
import type { RateCount, RateLimitStore } from './store.js'

export interface RateLimit {
  limit: number
  windowSeconds: number
}

/**
 * What routes call: one counted request of `id`, `rate_limited` (429) past the limit. A
 * limiter that decided without I/O may return nothing instead of a settled promise.
 */
export interface RequestLimiter {
  count(id: string): Promise<void> | undefined
  /**
   * Counts one request without I/O when that alone decides it is allowed (true); otherwise
   * counts nothing (false) and `count` must decide. Limiters without it always need `count`.
   */
  countWithoutStore?(id: string): boolean
}

export function assertRateLimit(bucket: string, limit: RateLimit): void {
  if (!Number.isInteger(limit.limit) || limit.limit < 1 || limit.windowSeconds < 1) {
    throw new Error(`rate limit ${bucket}: expected a positive limit and window`)
  }
}

/**
 * The store key of `id` in `bucket`: a hash, so the store never holds client addresses or
 * session keys in clear; in braces, so each counter is one Redis Cluster hash slot.
 */
export function limiterKey(bucket: string, id: string): string {
  return `${bucket}:{${sha256(id)}}`
}

/** The store's answer past the limit, as the 429 the client gets (Retry-After: window end). */
export function rateLimited(bucket: string, limit: number, { count, resetMs }: RateCount) {
  return new BffError('rate_limited', {
    retryAfterSeconds: Math.max(1, Math.ceil(resetMs / 1000)),
    detail: `${bucket}: ${count} requests in the window (limit ${limit})`,
  })
}

/**
 * One limit (e.g. sign-ins per client address per minute), one store hit per request. A store
 * failure is a 503 (fail closed, like every other store call).
 */
export class RateLimiter implements RequestLimiter {
  readonly #store: RateLimitStore
  readonly #bucket: string
  readonly #limit: RateLimit

  constructor(store: RateLimitStore, bucket: string, limit: RateLimit) {
    assertRateLimit(bucket, limit)
    this.#store = store
    this.#bucket = bucket
    this.#limit = limit
  }

  /** Counts one request of `id`; throws `rate_limited` (429 with Retry-After) past the limit. */
  async count(id: string): Promise<void> {
    const answer = await storeCall(`rate limit ${this.#bucket}`, () =>
      this.#store.hit(limiterKey(this.#bucket, id), this.#limit.windowSeconds * 1000),
    )
    if (answer.count > this.#limit.limit) throw rateLimited(this.#bucket, this.#limit.limit, answer)
  }
}
