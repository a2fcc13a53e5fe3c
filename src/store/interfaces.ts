import type { RateLimitStore } from '../rate-limit/store.js'
import type { AccessToken, LoginTransaction, SessionData, StoredSession } from '../session/types.js'

/*
 * What the broker keeps, one small interface per kind of state, and the set that builds them
 * together from one connection set (Redis in production, memory for local demos). Each
 * interface has its own contract suite in test/contracts/, run on every backend. Keys passed
 * in are already derived (hashed) by the caller.
 */

/**
 * Sessions deleted per store round trip (and opened per event-loop turn by SessionService):
 * a mass deletion (sign out everywhere, a back-channel logout by `sub`, the CLI's revoke-all)
 * goes in slices this big, so it neither sends thousands of commands at once nor holds the
 * event loop (issue 12: 5,000 at once stalled the broker for seconds). Measured on a loaded
 * 2-core machine, 200 took 4-22 ms to send as MULTIs and 6-20 ms to open, in turns that could
 * add up to 70 ms; 100 halves that for one more round trip per hundred.
 */
export const DELETE_BATCH_SIZE = 100

/** Session records by store key. */
export interface SessionRecordStore {
  getSession(key: string): Promise<StoredSession | null>
  /** Writes a new session at version 1. Returns false when the key already exists. */
  createSession(key: string, data: SessionData, lastSeenAt: number, ttlMs: number): Promise<boolean>
  /**
   * Compare-and-set: writes `data` as version `expectedVersion + 1` only if the stored
   * version is still `expectedVersion`. Returns false otherwise (someone wrote first).
   */
  replaceSession(
    key: string,
    data: SessionData,
    expectedVersion: number,
    ttlMs: number,
  ): Promise<boolean>
  /** Sliding renewal: updates lastSeenAt and the TTL of an existing session only. */
  touchSession(key: string, lastSeenAt: number, ttlMs: number): Promise<void>
  /** Deletes and returns what was there. */
  deleteSession(key: string): Promise<StoredSession | null>
  /**
   * Deletes these sessions and returns the ones that existed. Each deletion is atomic with its
   * announcement on the change feed; a long list goes DELETE_BATCH_SIZE keys per round trip,
   * yielding to the event loop between them.
   */
  deleteSessions(keys: readonly string[]): Promise<Array<{ key: string; session: StoredSession }>>
}

/** Whom a session belongs to at the provider: what back-channel logout tokens name. */
export interface SessionOwner {
  iss: string
  sub: string
  sid?: string
}

/** One session index: by provider session (`sid`) or by user (`sub`), always within an issuer. */
export type SessionIndexQuery = { iss: string; sid: string } | { iss: string; sub: string }

/** The back-channel logout indexes: session keys by `(iss, sid)` and by `(iss, sub)`. */
export interface SessionIndexStore {
  /**
   * Adds `key` to the `(iss, sub)` index and, with a sid, the `(iss, sid)` index, for at least
   * `ttlMs`. Never shortens an index: it lives as long as its longest-lived session, so
   * indexes expire with their sessions and leave no orphan keys.
   */
  indexSession(key: string, owner: SessionOwner, ttlMs: number): Promise<void>
  /** Session keys in one index whose entry has not expired (the sessions may be gone already). */
  findSessions(query: SessionIndexQuery): Promise<string[]>
}

/** Sign-ins in flight, one per `state`. */
export interface TransactionStore {
  putTransaction(state: string, tx: LoginTransaction, ttlMs: number): Promise<void>
  /** Atomically reads and deletes, so a state can be used once. */
  takeTransaction(state: string): Promise<LoginTransaction | null>
}

/** The replay cache of logout token `jti`s. */
export interface ReplayCache {
  /** Remembers `id` for `ttlMs` (`SET NX PX`): true the first time, false while it is remembered. */
  rememberOnce(id: string, ttlMs: number): Promise<boolean>
  /** Drops a remembered id: its request failed before it took effect, so a retry must pass. */
  forget(id: string): Promise<void>
}

/**
 * Named locks with one holder at a time (oauth2-proxy's `Lock`: obtain, refresh, release),
 * each held by the random token `acquireLock` returns and expiring after its TTL.
 */
export interface LockStore {
  /** `SET NX PX`: returns a token when acquired, null when someone else holds it. */
  acquireLock(name: string, ttlMs: number): Promise<string | null>
  /** Extends the lock's TTL only if `token` still holds it (a holder renews while it works). */
  extendLock(name: string, token: string, ttlMs: number): Promise<boolean>
  /** Releases only if `token` still holds the lock. */
  releaseLock(name: string, token: string): Promise<boolean>
}

/**
 * Access tokens every broker instance shares, by name: the broker's own client-credentials
 * tokens, fetched by one instance and used by all until near expiry. The caller encrypts them.
 */
export interface SharedTokenStore {
  /** The token stored under `name`; null when there is none or its TTL ran out. */
  getSharedToken(name: string): Promise<AccessToken | null>
  /** Stores `token` under `name` for `ttlMs`, replacing what was there. */
  putSharedToken(name: string, token: AccessToken, ttlMs: number): Promise<void>
}

/**
 * Tells in-process caches that sessions changed, whichever instance changed them.
 * `live` is true only while every change is known to arrive (connected, subscribed, and the
 * last heartbeat answered in time); a cache must not be used while it is false.
 */
export interface SessionChangeFeed {
  readonly live: boolean
  /** `key` was replaced or deleted; null: changes may have been missed, forget everything. */
  subscribe(listener: (key: string | null) => void): void
  close(): Promise<void>
}

/**
 * Every store the broker uses, built together on one backend: for Redis, on one set of
 * connections (createRedisStores), so the rate-limit counters live where the sessions live.
 */
export interface StoreSet {
  readonly kind: 'redis' | 'memory'
  readonly sessions: SessionRecordStore
  readonly indexes: SessionIndexStore
  readonly transactions: TransactionStore
  readonly replayCache: ReplayCache
  readonly locks: LockStore
  readonly sharedTokens: SharedTokenStore
  readonly rateLimits: RateLimitStore
  /**
   * The feed of session changes (replace and delete, from every instance), opened on the
   * first call, or null when this backend cannot provide one. Touching a session is not a change.
   */
  changes(): SessionChangeFeed | null
  /** Rejects while the backend cannot be reached (at start and in /readyz). */
  ping(): Promise<void>
  /** Settings of the backend that put sessions at risk (e.g. an evicting Redis). */
  configurationWarnings(): Promise<string[]>
  close(): Promise<void>
}
