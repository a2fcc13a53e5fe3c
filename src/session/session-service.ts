import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import type { Clock } from '../lib/clock.js'
import { randomId, sha256 } from '../lib/random.js'
import type { SessionIndexQuery, SessionOwner, SessionStore } from './store.js'
import { type TokenCipher, TokenDecryptionError } from './token-cipher.js'
import type { SessionData, StoredSession } from './types.js'

/** Sliding renewal writes only when this share of the idle window has passed since the last one. */
const RENEWAL_FRACTION = 0.1
/**
 * Indexes are written a moment before their session, so they get this much extra time: a
 * session must never outlive the index a back-channel logout finds it by.
 */
const INDEX_SLACK_MS = 5000

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

/** Wraps store failures so every caller answers 503 store_unavailable, never 500. */
export async function storeCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw new BffError('store_unavailable', {
      detail: `${operation}: ${String(error)}`,
      cause: error,
    })
  }
}

export function sessionKey(sid: string): string {
  return sha256(sid)
}

/**
 * Creation, lookup with idle and absolute expiry, sliding renewal and deletion of sessions.
 * With a cipher, token fields are encrypted on every write and decrypted on every read here,
 * so every store (Redis or memory) holds only ciphertext.
 */
export class SessionService {
  readonly #store: SessionStore
  readonly #clock: Clock
  readonly #cipher: TokenCipher | null
  readonly #idleMs: number
  readonly #absoluteMs: number

  readonly #onExpired: ((reason: 'idle_timeout' | 'absolute_timeout') => void) | undefined

  constructor(
    config: BffConfig,
    store: SessionStore,
    clock: Clock,
    cipher: TokenCipher | null = null,
    onExpired?: (reason: 'idle_timeout' | 'absolute_timeout') => void,
  ) {
    this.#onExpired = onExpired
    this.#store = store
    this.#clock = clock
    this.#cipher = cipher
    this.#idleMs = config.sessionIdleTimeoutSeconds * 1000
    this.#absoluteMs = config.sessionAbsoluteTimeoutSeconds * 1000
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

  async lookup(sid: string): Promise<SessionLookup> {
    const key = sessionKey(sid)
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
      this.#onExpired?.(now >= record.absoluteExpiresAt ? 'absolute_timeout' : 'idle_timeout')
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
    const stored = await storeCall('delete session', () => this.#store.deleteSession(key))
    return stored ? this.#open(key, stored) : null
  }

  /** Compare-and-set of a new token set; false when another writer got there first. */
  async replace(session: ActiveSession, data: SessionData): Promise<boolean> {
    const ttl = this.ttlMs(data, session.record.lastSeenAt)
    await this.#index(session.key, data, ttl)
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
    return storeCall('find sessions', () => this.#store.findSessions(query))
  }

  /** Deletes these sessions in one store step; returns those that existed. */
  async deleteMany(keys: readonly string[]) {
    const deleted = await storeCall('delete sessions', () =>
      this.#store.deleteSessions([...new Set(keys)]),
    )
    return deleted.flatMap(({ key, session }) => {
      const opened = this.#open(key, session)
      return opened ? [{ key, session: opened }] : []
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
      this.#store.indexSession(key, { iss, sub, ...(sid ? { sid } : {}) }, ttlMs + INDEX_SLACK_MS),
    )
  }
}
