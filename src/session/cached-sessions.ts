import type { Clock } from '../lib/clock.js'
import type { SessionChangeFeed } from '../store/interfaces.js'
import { type CacheLookup, type CacheTicket, SessionCache } from './session-cache.js'
import type { SessionExpiry } from './session-expiry.js'
import type { ActiveSession, StoredSession } from './types.js'

/** Sessions remembered per process at most (the oldest go first). */
const CACHE_ENTRIES = 10_000

/**
 * Which sessions this process may serve from memory: those its SessionCache remembers (opened,
 * and unchanged anywhere as far as the live change feed says) while nothing is due. Once a
 * record needs a sliding renewal or looks expired, it is dropped and the store decides
 * (another instance may have renewed it).
 */
export class CachedSessions {
  readonly #cache: SessionCache
  readonly #expiry: SessionExpiry
  readonly #clock: Clock

  constructor(feed: SessionChangeFeed, expiry: SessionExpiry, clock: Clock, maxAgeMs: number) {
    this.#cache = new SessionCache(feed, clock, CACHE_ENTRIES, maxAgeMs)
    this.#expiry = expiry
    this.#clock = clock
  }

  /** The session by store key when it may be served from memory, or why not (no I/O). */
  get(key: string): ActiveSession | CacheLookup {
    const cache = this.#cache
    const cached = cache.get(key)
    if (typeof cached !== 'object') return cached
    if (this.#expiry.dueAt(cached, this.#clock.now())) {
      cache.forget(key)
      return 'miss'
    }
    return { key, record: cached }
  }

  /** Call before reading `key` from the store; pass the ticket to `settle`. */
  startRead(key: string): CacheTicket {
    return this.#cache.startRead(key)
  }

  /** Ends a read: its record is remembered, unless the key changed meanwhile or it found none. */
  settle(ticket: CacheTicket, record: StoredSession | undefined): void {
    if (record) this.#cache.remember(ticket, record)
    else this.#cache.done(ticket)
  }

  /** The session changed or ended here: drop it and void reads in flight. */
  forget(key: string): void {
    this.#cache.forget(key)
  }
}
