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
  /** Counts one request for `key`; the first request of a window starts it for `windowMs`. */
  hit(key: string, windowMs: number): Promise<RateCount>
}

/** The in-process twin of the Redis counters, for the memory store (one process only). */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>()
  readonly #clock: Clock
  #sweepAt = 0

  constructor(clock: Clock) {
    this.#clock = clock
  }

  async hit(key: string, windowMs: number): Promise<RateCount> {
    const now = this.#clock.now()
    this.#sweep(now)
    let window = this.#windows.get(key)
    if (!window || window.endsAt <= now) {
      window = { count: 0, endsAt: now + windowMs }
      this.#windows.set(key, window)
    }
    window.count++
    return { count: window.count, resetMs: window.endsAt - now }
  }

  /** Drops ended windows now and then, so a flood of distinct keys cannot grow the map for ever. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return
    this.#sweepAt = now + 10_000
    for (const [key, window] of this.#windows) if (window.endsAt <= now) this.#windows.delete(key)
  }
}
