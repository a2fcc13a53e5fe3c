import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import { storeCall } from '../errors/store-call.js'
import type { Clock } from '../lib/clock.js'
import { inBatches } from '../lib/in-batches.js'
import { randomId } from '../lib/random.js'
import {
  DELETE_BATCH_SIZE,
  type SessionIndexQuery,
  type SessionOwner,
  type StoreSet,
} from '../store/interfaces.js'
import { type CacheLookup, type CacheTicket, SessionCache } from './session-cache.js'
import { sessionKey } from './session-key.js'
import { type TokenCipher, TokenDecryptionError } from './token-cipher.js'
import type { SessionData, StoredSession } from './types.js'

/** Sliding renewal writes only when this share of the idle window has passed since the last one. */
const RENEWAL_FRACTION = 0.1
/**
 * Indexes are written a moment before their session, so they get this much extra time: a
 * session must never outlive the index a back-channel logout finds it by.
 */
const INDEX_SLACK_MS = 5000
/** Sessions remembered per process at most (the oldest go first). */
const CACHE_ENTRIES = 10_000

export interface ActiveSession {
  /** Store key: a hash of the session id, so a store dump reveals no cookie-usable id. */
  key: string
  record: StoredSession
}

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
 * Creation, lookup with idle and absolute expiry, sliding renewal and deletion of sessions.
 * With a cipher, token fields are encrypted on every write and decrypted on every read here,
 * so every store (Redis or memory) holds only ciphertext.
 *
 * Lookups are served from a per-process cache of opened records when the store offers a
 * live change feed (see SessionCache) and SESSION_CACHE_SECONDS is not 0. A cached record
 * is used only while nothing is due: once it needs a sliding renewal or looks expired, the
 * store decides (another instance may have renewed it). Refresh reads (`reload`) always go
 * to the store.
 */
export class SessionService {
  readonly #store: StoreSet['sessions']
  readonly #indexes: StoreSet['indexes']
  readonly #clock: Clock
  readonly #cipher: TokenCipher | null
  readonly #idleMs: number
  readonly #absoluteMs: number
  readonly #cache: SessionCache | null
  readonly #options: SessionServiceOptions

  constructor(
    config: BffConfig,
    stores: Pick<StoreSet, 'sessions' | 'indexes' | 'changes'>,
    clock: Clock,
    options: SessionServiceOptions = {},
  ) {
    this.#options = options
    this.#store = stores.sessions
    this.#indexes = stores.indexes
    this.#clock = clock
    this.#cipher = options.cipher ?? null
    this.#idleMs = config.sessionIdleTimeoutSeconds * 1000
    this.#absoluteMs = config.sessionAbsoluteTimeoutSeconds * 1000
    const feed = config.sessionCacheSeconds > 0 ? stores.changes() : null
    this.#cache = feed
      ? new SessionCache(feed, clock, CACHE_ENTRIES, config.sessionCacheSeconds * 1000)
      : null
  }

  get absoluteTimeoutMs(): number {
    return this.#absoluteMs
  }

  /** How long the store should keep a session last renewed at `lastSeenAt`. */
  ttlMs(record: Pick<StoredSession, 'absoluteExpiresAt'>, lastSeenAt: number): number {
    const deadline = Math.min(lastSeenAt + this.#idleMs, record.absoluteExpiresAt)
    return Math.max(1, deadline - this.#clock.now())
  }

  idleExpiresAt(record: StoredSession): number {
    return Math.min(record.lastSeenAt + this.#idleMs, record.absoluteExpiresAt)
  }

  /** Mints a new random session id (never reuses one) and stores the session. */
  async create(
    data: Omit<SessionData, 'createdAt' | 'absoluteExpiresAt'>,
  ): Promise<{ sid: string; session: ActiveSession }> {
    const now = this.#clock.now()
    const record: SessionData = {
      ...data,
      createdAt: now,
      absoluteExpiresAt: now + this.#absoluteMs,
    }
    const sid = randomId()
    const key = sessionKey(sid)
    const ttl = this.ttlMs(record, now)
    // Indexed first: a session that exists is always findable by a back-channel logout.
    await this.#index(key, record, ttl)
    const created = await storeCall('create session', () =>
      this.#store.createSession(key, this.#seal(key, record), now, ttl),
    )
    if (!created) throw new BffError('internal', { detail: 'session id collision' })
    return { sid, session: { key, record: { ...record, version: 1, lastSeenAt: now } } }
  }

  /**
   * The session (by store key) from this instance's cache when it may be served from there;
   * no I/O, and not counted: a caller that uses it counts it with `countCacheHit`.
   */
  servable(key: string): ActiveSession | undefined {
    if (!this.#cache) return undefined
    const found = this.#fromCache(this.#cache, key)
    return typeof found === 'object' ? found : undefined
  }

  /** A `servable` session was used (the session cache metrics). */
  countCacheHit(): void {
    this.#options.onCacheLookup?.('hit')
  }

  async lookup(sid: string): Promise<SessionLookup> {
    const key = sessionKey(sid)
    if (!this.#cache) return this.#lookupInStore(key)
    const found = this.#fromCache(this.#cache, key)
    if (typeof found === 'object') {
      this.#options.onCacheLookup?.('hit')
      return { status: 'active', session: found }
    }
    this.#options.onCacheLookup?.(found)
    const ticket = this.#cache.startRead(key)
    let lookup: SessionLookup | undefined
    try {
      lookup = await this.#lookupInStore(key)
    } finally {
      this.#settle(ticket, lookup)
    }
    return lookup
  }

  #settle(ticket: CacheTicket, lookup: SessionLookup | undefined): void {
    if (lookup?.status === 'active') this.#cache?.remember(ticket, lookup.session.record)
    else this.#cache?.done(ticket)
  }

  /** A servable cached session, or why the store must answer (not counted here). */
  #fromCache(cache: SessionCache, key: string): ActiveSession | CacheLookup {
    const cached = cache.get(key)
    if (typeof cached !== 'object') return cached
    if (this.#renewalDue(cached, this.#clock.now())) {
      cache.forget(key)
      return 'miss'
    }
    return { key, record: cached }
  }

  /** Expired, or time for a sliding renewal (which also catches expiry). */
  #renewalDue(record: StoredSession, now: number): boolean {
    return (
      now >= this.idleExpiresAt(record) ||
      now - record.lastSeenAt >= this.#idleMs * RENEWAL_FRACTION
    )
  }

  async #lookupInStore(key: string): Promise<SessionLookup> {
    const stored = await storeCall('get session', () => this.#store.getSession(key))
    if (!stored) return { status: 'missing' }
    const record = this.#open(key, stored)
    if (!record) {
      await storeCall('delete unreadable session', () => this.#store.deleteSession(key))
      return { status: 'unreadable' }
    }
    const now = this.#clock.now()
    if (now >= this.idleExpiresAt(record)) {
      await storeCall('delete expired session', () => this.#store.deleteSession(key))
      this.#options.onExpired?.(
        now >= record.absoluteExpiresAt ? 'absolute_timeout' : 'idle_timeout',
      )
      return { status: 'expired' }
    }
    if (now - record.lastSeenAt >= this.#idleMs * RENEWAL_FRACTION) {
      const ttl = this.ttlMs(record, now)
      await this.#index(key, record, ttl)
      await storeCall('renew session', () => this.#store.touchSession(key, now, ttl))
      record.lastSeenAt = now
    }
    return { status: 'active', session: { key, record } }
  }

  /** The session as stored now; null when it is gone or its tokens do not decrypt. */
  async reload(key: string): Promise<StoredSession | null> {
    const stored = await storeCall('get session', () => this.#store.getSession(key))
    return stored ? this.#open(key, stored) : null
  }

  /** Deletes and returns the session (null when gone or unreadable: nothing to revoke). */
  async delete(key: string): Promise<StoredSession | null> {
    this.#cache?.forget(key)
    const stored = await storeCall('delete session', () => this.#store.deleteSession(key))
    return stored ? this.#open(key, stored) : null
  }

  /** Compare-and-set of a new token set; false when another writer got there first. */
  async replace(session: ActiveSession, data: SessionData): Promise<boolean> {
    const ttl = this.ttlMs(data, session.record.lastSeenAt)
    await this.#index(session.key, data, ttl)
    this.#cache?.forget(session.key)
    return storeCall('replace session', () =>
      this.#store.replaceSession(
        session.key,
        this.#seal(session.key, data),
        session.record.version,
        ttl,
      ),
    )
  }

  /** Keys of the live sessions in one back-channel logout index. */
  async find(query: SessionIndexQuery): Promise<string[]> {
    return storeCall('find sessions', () => this.#indexes.findSessions(query))
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
        const opened = this.#open(key, session)
        return opened ? [{ key, session: opened }] : []
      })
    })
  }

  #seal<T extends SessionData>(key: string, data: T): T {
    return this.#cipher ? { ...data, tokens: this.#cipher.seal(data.tokens, key) } : data
  }

  /** The session with readable tokens, or null when they cannot be decrypted. */
  #open(key: string, stored: StoredSession): StoredSession | null {
    if (!this.#cipher) return stored
    try {
      return { ...stored, tokens: this.#cipher.open(stored.tokens, key) }
    } catch (error) {
      if (error instanceof TokenDecryptionError) return null
      throw error
    }
  }

  async #index(key: string, owner: SessionOwner, ttlMs: number): Promise<void> {
    const { iss, sub, sid } = owner
    await storeCall('index session', () =>
      this.#indexes.indexSession(
        key,
        { iss, sub, ...(sid ? { sid } : {}) },
        ttlMs + INDEX_SLACK_MS,
      ),
    )
  }
}
