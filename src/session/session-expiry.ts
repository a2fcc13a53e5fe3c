import type { Clock } from '../lib/clock.js'
import type { StoredSession } from './types.js'

/** Sliding renewal writes only when this share of the idle window has passed since the last one. */
const RENEWAL_FRACTION = 0.1

/**
 * When a session expires, two ways: idle (sliding, renewed at most once per tenth of the idle
 * window so renewal costs no store write per request) and absolute (from creation).
 */
export class SessionExpiry {
  readonly idleMs: number
  readonly absoluteMs: number
  readonly #renewAfterMs: number
  readonly #clock: Clock

  constructor(idleMs: number, absoluteMs: number, clock: Clock) {
    this.idleMs = idleMs
    this.absoluteMs = absoluteMs
    this.#renewAfterMs = idleMs * RENEWAL_FRACTION
    this.#clock = clock
  }

  /** How long the store should keep a session last renewed at `lastSeenAt`. */
  ttlMs(record: Pick<StoredSession, 'absoluteExpiresAt'>, lastSeenAt: number): number {
    const deadline = Math.min(lastSeenAt + this.idleMs, record.absoluteExpiresAt)
    return Math.max(1, deadline - this.#clock.now())
  }

  idleExpiresAt(record: StoredSession): number {
    return Math.min(record.lastSeenAt + this.idleMs, record.absoluteExpiresAt)
  }

  /** Time for a sliding renewal at `now` (expired records are past it too). */
  renewalDue(record: StoredSession, now: number): boolean {
    return now - record.lastSeenAt >= this.#renewAfterMs
  }

  /** Expired, or time for a sliding renewal: either way the store must decide. */
  dueAt(record: StoredSession, now: number): boolean {
    return now >= this.idleExpiresAt(record) || now - record.lastSeenAt >= this.#renewAfterMs
  }
}
