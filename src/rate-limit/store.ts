import type { Clock } from '../lib/clock.js'

/** One counted request: how many the window holds now and when it resets. */
export interface RateCount {
  count: number
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number
}

/**
 * Fixed-window counters shared by every broker instance (Redis), or by one process (memory).
 * Both pass test/contracts/rate-limit-store.contract.ts.
 */
export interface RateLimitStore {
  /**
   * Adds `increment` requests (a positive integer; a batch from BatchedRateLimiter) to `key`'s
   * count; the first hit of a window starts it for `windowMs`. Later hits never stretch it.
   */
  hit(key: string, windowMs: number, increment?: number): Promise<RateCount>
}

/** Both stores refuse what INCRBY would take but a counter must never do (go down, or by 0). */
export function assertIncrement(increment: number): void {
  if (!Number.isSafeInteger(increment) || increment < 1) {
    throw new RangeError(`rate limit increment must be a positive integer, got ${increment}`)
  }
}

/** The in-process twin of the Redis counters, for the memory store (one process only). */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>()
  readonly #clock: Clock
  #sweepAt = 0

  constructor(clock: Clock) {
    this.#clock = clock
  }

  async hit(key: string, windowMs: number, increment = 1): Promise<RateCount> {
    assertIncrement(increment)
    const now = this.#clock.now()
    this.#sweep(now)
    let window = this.#windows.get(key)
    if (!window || window.endsAt <= now) {
      window = { count: 0, endsAt: now + windowMs }
      this.#windows.set(key, window)
    }
    window.count += increment
    return { count: window.count, resetMs: window.endsAt - now }
  }

  /** Drops ended windows now and then, so a flood of distinct keys cannot grow the map for ever. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return
    this.#sweepAt = now + 10_000
    for (const [key, window] of this.#windows) if (window.endsAt <= now) this.#windows.delete(key)
  }
}
