import { storeCall } from '../errors/store-call.js'
import type { Clock } from '../lib/clock.js'
import {
  assertRateLimit,
  limiterKey,
  type RateLimit,
  type RequestLimiter,
  rateLimited,
} from './rate-limiter.js'
import type { RateCount, RateLimitStore } from './store.js'

/** Runs `run` once after `ms`; the returned function cancels it. Tests pass a manual one. */
export type Schedule = (ms: number, run: () => void) => () => void

/** setTimeout, unref()ed: a pending flush never keeps the process alive. */
export const timerSchedule: Schedule = (ms, run) => {
  const timer = setTimeout(run, ms)
  timer.unref()
  return () => clearTimeout(timer)
}

export interface BatchedRateLimitOptions {
  clock: Clock
  /** How long fast-path hits wait before they are sent to the store. Default 100 ms. */
  flushIntervalMs?: number
  schedule?: Schedule
}

/** What this instance knows of one key's current window. */
interface Window {
  /** The key in the store: the bucket and a hash of the id, derived once per window. */
  storeKey: string
  /** The store's count, from the latest answer for this window (0 before the first). */
  known: number
  /** When the window ends (clock ms); null until the store's first answer. */
  endsAt: number | null
  /** Admitted on the fast path, not sent yet. */
  pending: number
  /** Sent to the store (exact path or flush), not answered yet. */
  sending: number
  /** The last store call for this key failed: its next request goes to the store. */
  failed: boolean
}

/**
 * A per-key limit that counts in batches: the same `count` contract as RateLimiter, but most
 * requests cost no store round trip. For the /api limit per session, where that round trip is
 * a real share of the proxy's hot path; the brute-force limits stay on RateLimiter.
 *
 * Per key it keeps the store's count it last learned (`known`), the hits it admitted but the
 * store has not answered yet (`unconfirmed` = pending + sending) and the window's end.
 * - Exact path (awaits the store, sends 1 + pending, the store's answer decides): the first
 *   request of a window, after a failed store call, and once known + unconfirmed ≥ limit / 2.
 * - Fast path otherwise: pending++, no I/O. Below half the limit it never refuses.
 * - One timer sends every key's pending hits as one `hit(key, window, pending)` each
 *   (ioredis pipelines them) `flushIntervalMs` after the first of them.
 *
 * Bound, per key and window, with limit L and K instances sharing the store: at most
 * L + f₁ + … + f_K requests are admitted, where f_i is the fast-path hits of instance i that
 * the store counted only after its count had passed L (or never: a flush that failed until
 * the window ended). Those are the hits i admitted between its last flush the store ran
 * before the crossing and its first answer after it (about two flush intervals plus two round
 * trips of its traffic), and f_i ≤ ⌈L/2⌉ − 1 since the fast path needs known ≥ 1 and
 * known + unconfirmed < L/2. So never more than L + K·(⌈L/2⌉ − 1). With one instance
 * known + unconfirmed is the store's count, so every f_i is 0 and the limit is exact.
 */
export class BatchedRateLimiter implements RequestLimiter {
  readonly #store: RateLimitStore
  readonly #bucket: string
  readonly #limit: number
  readonly #windowMs: number
  readonly #clock: Clock
  readonly #flushIntervalMs: number
  readonly #schedule: Schedule
  readonly #windows = new Map<string, Window>()
  readonly #dirty = new Set<string>()
  #cancelFlush: (() => void) | null = null
  #sweepAt = 0
  #closed = false

  constructor(
    store: RateLimitStore,
    bucket: string,
    limit: RateLimit,
    options: BatchedRateLimitOptions,
  ) {
    assertRateLimit(bucket, limit)
    const flushIntervalMs = options.flushIntervalMs ?? 100
    if (!(flushIntervalMs > 0 && flushIntervalMs < limit.windowSeconds * 1000)) {
      throw new Error(`rate limit ${bucket}: expected a flush interval shorter than the window`)
    }
    this.#store = store
    this.#bucket = bucket
    this.#limit = limit.limit
    this.#windowMs = limit.windowSeconds * 1000
    this.#clock = options.clock
    this.#flushIntervalMs = flushIntervalMs
    this.#schedule = options.schedule ?? timerSchedule
  }

  /** Keys whose window this instance tracks (ended windows are swept). */
  get trackedKeys(): number {
    return this.#windows.size
  }

  /**
   * Counts one request of `id`; rejects with `rate_limited` (429 with Retry-After) past the
   * limit. Below half the limit it counts locally and returns nothing: no await on the hot path.
   */
  count(id: string): Promise<void> | undefined {
    if (this.countWithoutStore(id)) return undefined
    const now = this.#clock.now()
    // In-process state is kept by id (a session key); only the store sees the hashed key.
    let window = this.#windows.get(id)
    if (!window || (window.endsAt !== null && now >= window.endsAt)) {
      // Hits still pending from an ended window belong to it: they are dropped with it.
      const storeKey = window?.storeKey ?? limiterKey(this.#bucket, id)
      window = { storeKey, known: 0, endsAt: null, pending: 0, sending: 0, failed: false }
      this.#windows.set(id, window)
    }
    return this.#exact(id, window)
  }

  /**
   * Counts one request of `id` on the fast path when it may be (below half the limit in a
   * window the store has answered for, no failed call): true. Otherwise false, and nothing
   * is counted: the caller must then `count`.
   */
  countWithoutStore(id: string): boolean {
    const now = this.#clock.now()
    this.#sweep(now)
    const window = this.#windows.get(id)
    if (
      !window ||
      window.endsAt === null ||
      now >= window.endsAt ||
      window.failed ||
      this.#closed ||
      window.known + window.pending + window.sending >= this.#limit / 2
    ) {
      return false
    }
    window.pending++
    this.#markDirty(id)
    return true
  }

  /** Sends every key's pending hits now (the timer calls this). Never rejects. */
  async flush(): Promise<void> {
    this.#cancelFlush?.()
    this.#cancelFlush = null
    const now = this.#clock.now()
    const sends: Promise<void>[] = []
    for (const key of this.#dirty) {
      const window = this.#windows.get(key)
      // An ended window's hits no longer decide anything (and are not retried for ever).
      const ended = window?.endsAt != null && now >= window.endsAt
      if (window && window.pending > 0 && !ended) sends.push(this.#send(key, window))
    }
    this.#dirty.clear()
    await Promise.all(sends)
  }

  /** Stops the timer and sends what is pending, best effort (at shutdown, before the store closes). */
  async close(): Promise<void> {
    this.#closed = true
    await this.flush()
  }

  async #exact(key: string, window: Window): Promise<void> {
    const increment = 1 + window.pending
    window.pending = 0
    window.sending += increment
    let answer: RateCount
    try {
      answer = await storeCall(`rate limit ${this.#bucket}`, () =>
        this.#store.hit(window.storeKey, this.#windowMs, increment),
      )
    } catch (error) {
      // This request gets the 503; the hits admitted before it stay counted here.
      this.#failed(key, window, increment, increment - 1)
      throw error
    }
    this.#learn(window, increment, answer)
    if (answer.count > this.#limit) throw rateLimited(this.#bucket, this.#limit, answer)
  }

  async #send(key: string, window: Window): Promise<void> {
    const increment = window.pending
    window.pending = 0
    window.sending += increment
    try {
      this.#learn(
        window,
        increment,
        await this.#store.hit(window.storeKey, this.#windowMs, increment),
      )
    } catch {
      this.#failed(key, window, increment, increment)
    }
  }

  #learn(window: Window, sent: number, { count, resetMs }: RateCount): void {
    window.sending -= sent
    window.failed = false
    const endsAt = this.#clock.now() + resetMs
    const half = this.#windowMs / 2
    if (window.endsAt === null || endsAt > window.endsAt + half) {
      // The first answer, or a hit that reached the store after its window had ended there.
      window.known = count
      window.endsAt = endsAt
    } else {
      // Never lower: an answer overtaken by a later one (or an earlier window's) is stale.
      window.known = Math.max(window.known, count)
    }
  }

  #failed(key: string, window: Window, sent: number, unsent: number): void {
    window.sending -= sent
    window.pending += unsent
    window.failed = true
    if (window.pending > 0) {
      this.#markDirty(key)
    } else if (
      window.endsAt === null &&
      window.sending === 0 &&
      this.#windows.get(key) === window
    ) {
      // A first hit that never reached the store: nothing to keep.
      this.#windows.delete(key)
    }
  }

  #markDirty(key: string): void {
    this.#dirty.add(key)
    if (!this.#cancelFlush && !this.#closed) {
      this.#cancelFlush = this.#schedule(this.#flushIntervalMs, () => {
        this.#cancelFlush = null
        void this.flush()
      })
    }
  }

  /** Drops ended windows once per window length, so the map cannot grow without bound. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return
    this.#sweepAt = now + this.#windowMs
    for (const [key, window] of this.#windows) {
      if (window.endsAt !== null && window.endsAt <= now) {
        this.#windows.delete(key)
        this.#dirty.delete(key)
      }
    }
  }
}
