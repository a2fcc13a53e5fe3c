import type { Clock } from '../lib/clock.js'

export type CircuitState = 'closed' | 'open' | 'half_open'

export interface CircuitOptions {
  /** What the circuit guards, for metrics and logs: `store`, `provider`, `upstream:/api/x`. */
  name: string
  /** Consecutive failures that open the circuit. */
  failuresToOpen: number
  /** How long an open circuit refuses everything before it lets one call through as a probe. */
  probeAfterMs: number
  /**
   * A probe that has neither succeeded nor failed after this long (its caller gave up, say)
   * no longer blocks the next one.
   */
  probeTimeoutMs: number
  clock: Clock
  /** Called once per change of state (never per call). */
  onTransition?: (name: string, from: CircuitState, to: CircuitState) => void
}

/**
 * A circuit breaker (closed → open → half-open → closed), as Envoy, resilience4j and Finagle
 * have them: once a dependency is known down, calls fail at once instead of each waiting out
 * its own timeout; while open, one call at a time is let through to find out whether it is
 * back, and its success closes the circuit. A caller asks `allow()` before the call and reports
 * `success()` or `failure()` after it; `release()` gives back a probe whose call was never made
 * or ended without an answer either way (the client left).
 */
export class CircuitBreaker {
  readonly name: string
  readonly #options: CircuitOptions
  #state: CircuitState = 'closed'
  #failures = 0
  /** Who failed in the current streak: each counts once (see `failure`). */
  readonly #failedBy = new Set<string>()
  #openedAt = 0
  #probeStartedAt = 0

  constructor(options: CircuitOptions) {
    this.name = options.name
    this.#options = options
  }

  get state(): CircuitState {
    return this.#state
  }

  /** Whether calls are being refused now (open, or half-open with its probe under way). */
  get refusing(): boolean {
    if (this.#state === 'closed') return false
    return !this.#probeDue(this.#options.clock.now())
  }

  /** Seconds a refused caller should wait before trying again (Retry-After), at least 1. */
  get retryAfterSeconds(): number {
    const now = this.#options.clock.now()
    const left = this.#openedAt + this.#options.probeAfterMs - now
    return Math.max(1, Math.ceil(left / 1000))
  }

  /** Whether a call may go ahead; true for the one probe when the circuit is due for one. */
  allow(): boolean {
    if (this.#state === 'closed') return true
    const now = this.#options.clock.now()
    if (!this.#probeDue(now)) return false
    this.#probeStartedAt = now
    this.#moveTo('half_open')
    return true
  }

  success(): void {
    // The usual case, once per proxied answer: nothing to reset.
    if (this.#state === 'closed' && this.#failures === 0) return
    this.#failures = 0
    this.#failedBy.clear()
    this.#moveTo('closed')
  }

  /**
   * A failed call. With `by` (whose call it was: a session), each caller counts once in a
   * streak, so one client whose own requests time out (a slow query it chose) cannot open the
   * circuit for everyone; it takes that many different callers.
   */
  failure(by?: string): void {
    const now = this.#options.clock.now()
    if (by === undefined || !this.#failedBy.has(by)) this.#failures += 1
    if (by !== undefined) this.#failedBy.add(by)
    if (this.#state === 'half_open' || this.#failures >= this.#options.failuresToOpen) {
      this.#failedBy.clear()
      this.#openedAt = now
      this.#probeStartedAt = 0
      this.#moveTo('open')
    }
  }

  /** A call that was allowed ended without telling either way: its probe slot is free again. */
  release(): void {
    if (this.#state !== 'half_open') return
    this.#probeStartedAt = 0
    this.#moveTo('open')
    // Due at once: the circuit's wait has passed already.
    this.#openedAt = this.#options.clock.now() - this.#options.probeAfterMs
  }

  #probeDue(now: number): boolean {
    // A clock that went back (wall-clock adjustment) must not hold the circuit open for as long.
    if (this.#state === 'open') {
      const open = now - this.#openedAt
      return open < 0 || open >= this.#options.probeAfterMs
    }
    // Half-open: only when the probe under way has gone quiet past its timeout.
    const probing = now - this.#probeStartedAt
    return probing < 0 || probing >= this.#options.probeTimeoutMs
  }

  #moveTo(state: CircuitState): void {
    const from = this.#state
    if (from === state) return
    this.#state = state
    this.#options.onTransition?.(this.name, from, state)
  }
}
