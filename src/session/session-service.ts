import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import { storeCall } from '../errors/store-call.js'
import type { Clock } from '../lib/clock.js'
import { inBatches } from '../lib/in-batches.js'
import { randomId } from '../lib/random.js'
import {
  DELETE_BATCH_SIZE,
  type SessionIndexQuery,
  type SessionRecordStore,
  type StoreSet,
} from '../store/interfaces.js'
import { CachedSessions } from './cached-sessions.js'
import type { CacheLookup } from './session-cache.js'
import { SessionExpiry } from './session-expiry.js'
import { SessionIndexer } from './session-indexer.js'
import { sessionKey } from './session-key.js'
import { SessionSealer } from './session-sealer.js'
import type { TokenCipher } from './token-cipher.js'
import type { ActiveSession, SessionData, StoredSession } from './types.js'

export type SessionLookup =
  | { status: 'active'; session: ActiveSession }
  | { status: 'missing' }
  | { status: 'expired' }
  /** Its tokens do not decrypt (key removed, tampered, or written without encryption). */
  | { status: 'unreadable' }

export interface SessionServiceOptions {
  cipher?: TokenCipher | null
  onExpired?: (reason: 'idle_timeout' | 'absolute_timeout') => void
  /** Every lookup's use of the session cache (metrics). */
  onCacheLookup?: (result: CacheLookup) => void
}

/**
 * The life of a session: creation, lookup with idle and absolute expiry (SessionExpiry),
 * sliding renewal, replacement of its token set, and deletion. Every write goes through the
 * sealer (tokens encrypted at rest) and the indexer (back-channel logout indexes).
 *
 * Lookups are served from memory (CachedSessions) when the store offers a live change feed
 * and SESSION_CACHE_SECONDS is not 0. Refresh reads (`reload`) always go to the store.
 */
export class SessionService {
  readonly #store: SessionRecordStore
  readonly #clock: Clock
  readonly #expiry: SessionExpiry
  readonly #sealer: SessionSealer
  readonly #indexer: SessionIndexer
  readonly #cache: CachedSessions | null
  readonly #options: SessionServiceOptions

  constructor(
    config: BffConfig,
    stores: Pick<StoreSet, 'sessions' | 'indexes' | 'changes'>,
    clock: Clock,
    options: SessionServiceOptions = {},
  ) {
    this.#options = options
    this.#store = stores.sessions
    this.#clock = clock
    this.#expiry = new SessionExpiry(
      config.sessionIdleTimeoutSeconds * 1000,
      config.sessionAbsoluteTimeoutSeconds * 1000,
      clock,
    )
    this.#sealer = new SessionSealer(options.cipher ?? null)
    this.#indexer = new SessionIndexer(stores.indexes)
    const feed = config.sessionCacheSeconds > 0 ? stores.changes() : null
    this.#cache = feed
      ? new CachedSessions(feed, this.#expiry, clock, config.sessionCacheSeconds * 1000)
      : null
  }

  get absoluteTimeoutMs(): number {
    return this.#expiry.absoluteMs
  }

  idleExpiresAt(record: StoredSession): number {
    return this.#expiry.idleExpiresAt(record)
  }

  /** Mints a new random session id (never reuses one) and stores the session. */
  async create(
    data: Omit<SessionData, 'createdAt' | 'absoluteExpiresAt'>,
  ): Promise<{ sid: string; session: ActiveSession }> {
    const now = this.#clock.now()
    const record: SessionData = {
      ...data,
      createdAt: now,
      absoluteExpiresAt: now + this.#expiry.absoluteMs,
    }
    const sid = randomId()
    const key = sessionKey(sid)
    const ttl = this.#expiry.ttlMs(record, now)
    // Indexed first: a session that exists is always findable by a back-channel logout.
    await this.#indexer.index(key, record, ttl)
    const created = await storeCall('create session', () =>
      this.#store.createSession(key, this.#sealer.seal(key, record), now, ttl),
    )
    if (!created) throw new BffError('internal', { detail: 'session id collision' })
    return { sid, session: { key, record: { ...record, version: 1, lastSeenAt: now } } }
  }

  /**
   * The session (by store key) when this instance may serve it from memory; no I/O, and not
   * counted: a caller that uses it counts it with `countCacheHit`.
   */
  fromMemory(key: string): ActiveSession | undefined {
    const found = this.#cache?.get(key)
    return typeof found === 'object' ? found : undefined
  }

  /** A session `fromMemory` gave was used (the session cache metrics). */
  countCacheHit(): void {
    this.#options.onCacheLookup?.('hit')
  }

  /** The session a cookie's id names: from memory when it may be, else from the store. */
  async lookup(sid: string): Promise<SessionLookup> {
    const key = sessionKey(sid)
    const cache = this.#cache
    if (!cache) return this.#lookupInStore(key)
    const found = cache.get(key)
    if (typeof found === 'object') {
      this.#options.onCacheLookup?.('hit')
      return { status: 'active', session: found }
    }
    this.#options.onCacheLookup?.(found)
    const ticket = cache.startRead(key)
    let lookup: SessionLookup | undefined
    try {
      lookup = await this.#lookupInStore(key)
    } finally {
      cache.settle(ticket, lookup?.status === 'active' ? lookup.session.record : undefined)
    }
    return lookup
  }

  async #lookupInStore(key: string): Promise<SessionLookup> {
    const stored = await storeCall('get session', () => this.#store.getSession(key))
    if (!stored) return { status: 'missing' }
    const record = this.#sealer.open(key, stored)
    if (!record) {
      await storeCall('delete unreadable session', () => this.#store.deleteSession(key))
      return { status: 'unreadable' }
    }
    const now = this.#clock.now()
    if (now >= this.#expiry.idleExpiresAt(record)) {
      await storeCall('delete expired session', () => this.#store.deleteSession(key))
      this.#options.onExpired?.(
        now >= record.absoluteExpiresAt ? 'absolute_timeout' : 'idle_timeout',
      )
      return { status: 'expired' }
    }
    if (this.#expiry.renewalDue(record, now)) {
      const ttl = this.#expiry.ttlMs(record, now)
      await this.#indexer.index(key, record, ttl)
      await storeCall('renew session', () => this.#store.touchSession(key, now, ttl))
      record.lastSeenAt = now
    }
    return { status: 'active', session: { key, record } }
  }

  /** The session as stored now; null when it is gone or its tokens do not decrypt. */
  async reload(key: string): Promise<StoredSession | null> {
    const stored = await storeCall('get session', () => this.#store.getSession(key))
    return stored ? this.#sealer.open(key, stored) : null
  }

  /** Deletes and returns the session (null when gone or unreadable: nothing to revoke). */
  async delete(key: string): Promise<StoredSession | null> {
    this.#cache?.forget(key)
    const stored = await storeCall('delete session', () => this.#store.deleteSession(key))
    return stored ? this.#sealer.open(key, stored) : null
  }

  /** Compare-and-set of a new token set; false when another writer got there first. */
  async replace(session: ActiveSession, data: SessionData): Promise<boolean> {
    const ttl = this.#expiry.ttlMs(data, session.record.lastSeenAt)
    await this.#indexer.index(session.key, data, ttl)
    this.#cache?.forget(session.key)
    return storeCall('replace session', () =>
      this.#store.replaceSession(
        session.key,
        this.#sealer.seal(session.key, data),
        session.record.version,
        ttl,
      ),
    )
  }

  /** Keys of the live sessions in one back-channel logout index. */
  async find(query: SessionIndexQuery): Promise<string[]> {
    return this.#indexer.find(query)
  }

  /**
   * Deletes these sessions, DELETE_BATCH_SIZE per store call, opening each slice's tokens
   * before the next (decryption included, so thousands never run in one event-loop turn);
   * returns those that existed and could be opened, in the order given. A store failure stops
   * at its slice: the slices before it stay deleted.
   */
  async deleteMany(keys: readonly string[]) {
    return inBatches([...new Set(keys)], DELETE_BATCH_SIZE, async (batch) => {
      for (const key of batch) this.#cache?.forget(key)
      const deleted = await storeCall('delete sessions', () => this.#store.deleteSessions(batch))
      return deleted.flatMap(({ key, session }) => {
        const opened = this.#sealer.open(key, session)
        return opened ? [{ key, session: opened }] : []
      })
    })
  }
}
