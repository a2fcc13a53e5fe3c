import type { Clock } from '../lib/clock.js'
import type { SessionChangeFeed } from '../store/interfaces.js'
import type { StoredSession } from './types.js'

/** A read in flight: its answer may be cached only if nothing about its key changed meanwhile. */
export interface CacheTicket {
  readonly key: string
  readonly epoch: number
  readonly read: { readers: number; changed: boolean }
}

export type CacheLookup = 'hit' | 'miss' | 'off'

/**
 * Opened session records remembered per process, so the proxy hot path skips the store read
 * and the token decryption. Correctness rests on the store's change feed: every write and
 * delete of a session, on any instance, reaches every process (Redis pub/sub), and the cache
 * is used only while the feed is live. When it is not (disconnected, or its heartbeat is
 * late), nothing is served from here and everything remembered is dropped, because changes
 * may have been missed.
 *
 * A read racing a change: the record a store read returns may predate a delete that
 * reached this process while the read was in flight. Each read holds a ticket; a change of
 * its key (or a reset) during the read marks the ticket, and a marked answer is not cached.
 *
 * Entries also expire after `maxAgeMs`, a bound on any change that never reached the feed
 * (a key deleted by hand in Redis, say).
 */
export class SessionCache {
  readonly #feed: SessionChangeFeed
  readonly #clock: Clock
  readonly #maxEntries: number
  readonly #maxAgeMs: number
  readonly #entries = new Map<string, { record: StoredSession; expiresAt: number }>()
  readonly #reads = new Map<string, CacheTicket['read']>()
  /** Bumped on every reset: tickets from before it are void. */
  #epoch = 0
  #wasLive = false

  constructor(feed: SessionChangeFeed, clock: Clock, maxEntries: number, maxAgeMs: number) {
    this.#feed = feed
    this.#clock = clock
    this.#maxEntries = maxEntries
    this.#maxAgeMs = maxAgeMs
    this.#wasLive = feed.live
    feed.subscribe((key) => (key === null ? this.#reset() : this.forget(key)))
  }

  /** The remembered record, or why there is none. Never mutate the record returned. */
  get(key: string): StoredSession | CacheLookup {
    if (!this.#usable()) return 'off'
    const entry = this.#entries.get(key)
    if (!entry) return 'miss'
    if (entry.expiresAt <= this.#clock.now()) {
      this.#entries.delete(key)
      return 'miss'
    }
    return entry.record
  }

  /** Call before reading `key` from the store; pass the ticket to `remember` or `done`. */
  startRead(key: string): CacheTicket {
    this.#usable()
    let read = this.#reads.get(key)
    if (!read) {
      read = { readers: 0, changed: false }
      this.#reads.set(key, read)
    }
    read.readers++
    return { key, epoch: this.#epoch, read }
  }

  /** Caches the record the ticket's read produced, unless its key changed during the read. */
  remember(ticket: CacheTicket, record: StoredSession): void {
    // #usable() first: a feed that went down since resets the epoch.
    const cacheable = this.#usable() && !ticket.read.changed && ticket.epoch === this.#epoch
    this.done(ticket)
    if (!cacheable) return
    this.#entries.delete(ticket.key)
    this.#entries.set(ticket.key, { record, expiresAt: this.#clock.now() + this.#maxAgeMs })
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest === undefined) break
      this.#entries.delete(oldest)
    }
  }

  /** Ends a ticket whose read is not cached. */
  done(ticket: CacheTicket): void {
    if (--ticket.read.readers === 0 && this.#reads.get(ticket.key) === ticket.read) {
      this.#reads.delete(ticket.key)
    }
  }

  /** The session changed or ended (here or elsewhere): drop it and void reads in flight. */
  forget(key: string): void {
    this.#entries.delete(key)
    const read = this.#reads.get(key)
    if (read) read.changed = true
  }

  get size(): number {
    return this.#entries.size
  }

  #usable(): boolean {
    const live = this.#feed.live
    if (live !== this.#wasLive) {
      this.#wasLive = live
      // Went down: changes may be missed from now on. Came back: some may have been missed.
      this.#reset()
    }
    return live
  }

  #reset(): void {
    this.#entries.clear()
    this.#epoch++
  }
}
