import type { Clock } from '../lib/clock.js'
import { MemoryRateLimitStore } from '../rate-limit/store.js'
import type { AccessToken, LoginTransaction, SessionData, StoredSession } from '../session/types.js'
import type {
  LockStore,
  ReplayCache,
  SessionChangeFeed,
  SessionIndexQuery,
  SessionIndexStore,
  SessionOwner,
  SessionRecordStore,
  SharedTokenStore,
  StoreSet,
  TransactionStore,
} from './interfaces.js'

/**
 * Every store's methods on one object: the single store interface of earlier versions, still
 * accepted as `createBff(options, { store })`. New code takes the focused interfaces of a
 * StoreSet instead.
 */
export interface SessionStore
  extends SessionRecordStore,
    SessionIndexStore,
    TransactionStore,
    ReplayCache,
    LockStore,
    SharedTokenStore {
  readonly kind: 'redis' | 'memory'
  /** The set this store is a view of (RedisSessionStore, MemorySessionStore): createBff uses it. */
  readonly stores?: StoreSet
  changes?(): SessionChangeFeed | null
  ping(): Promise<void>
  configurationWarnings?(): Promise<string[]>
  close(): Promise<void>
}

/**
 * The store set a SessionStore stands for: its own set when it is a view of one; otherwise
 * the store answers for every member, with rate-limit counters in this process (as a custom
 * store has always had them).
 */
export function storeSetOf(store: SessionStore, clock: Clock): StoreSet {
  if (store.stores) return store.stores
  return {
    kind: store.kind,
    sessions: store,
    indexes: store,
    transactions: store,
    replayCache: store,
    locks: store,
    sharedTokens: store,
    rateLimits: new MemoryRateLimitStore(clock),
    changes: () => store.changes?.() ?? null,
    ping: () => store.ping(),
    configurationWarnings: async () => (await store.configurationWarnings?.()) ?? [],
    close: () => store.close(),
  }
}

/** A store set seen as one SessionStore: each method is its member's. */
export class StoreSetView implements SessionStore {
  readonly stores: StoreSet

  constructor(stores: StoreSet) {
    this.stores = stores
  }

  get kind(): 'redis' | 'memory' {
    return this.stores.kind
  }

  getSession(key: string): Promise<StoredSession | null> {
    return this.stores.sessions.getSession(key)
  }

  createSession(key: string, data: SessionData, lastSeenAt: number, ttlMs: number) {
    return this.stores.sessions.createSession(key, data, lastSeenAt, ttlMs)
  }

  replaceSession(key: string, data: SessionData, expectedVersion: number, ttlMs: number) {
    return this.stores.sessions.replaceSession(key, data, expectedVersion, ttlMs)
  }

  touchSession(key: string, lastSeenAt: number, ttlMs: number): Promise<void> {
    return this.stores.sessions.touchSession(key, lastSeenAt, ttlMs)
  }

  deleteSession(key: string): Promise<StoredSession | null> {
    return this.stores.sessions.deleteSession(key)
  }

  deleteSessions(keys: readonly string[]) {
    return this.stores.sessions.deleteSessions(keys)
  }

  indexSession(key: string, owner: SessionOwner, ttlMs: number): Promise<void> {
    return this.stores.indexes.indexSession(key, owner, ttlMs)
  }

  findSessions(query: SessionIndexQuery): Promise<string[]> {
    return this.stores.indexes.findSessions(query)
  }

  putTransaction(state: string, tx: LoginTransaction, ttlMs: number): Promise<void> {
    return this.stores.transactions.putTransaction(state, tx, ttlMs)
  }

  takeTransaction(state: string): Promise<LoginTransaction | null> {
    return this.stores.transactions.takeTransaction(state)
  }

  rememberOnce(id: string, ttlMs: number): Promise<boolean> {
    return this.stores.replayCache.rememberOnce(id, ttlMs)
  }

  forget(id: string): Promise<void> {
    return this.stores.replayCache.forget(id)
  }

  acquireLock(name: string, ttlMs: number): Promise<string | null> {
    return this.stores.locks.acquireLock(name, ttlMs)
  }

  extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return this.stores.locks.extendLock(name, token, ttlMs)
  }

  releaseLock(name: string, token: string): Promise<boolean> {
    return this.stores.locks.releaseLock(name, token)
  }

  getSharedToken(name: string): Promise<AccessToken | null> {
    return this.stores.sharedTokens.getSharedToken(name)
  }

  putSharedToken(name: string, token: AccessToken, ttlMs: number): Promise<void> {
    return this.stores.sharedTokens.putSharedToken(name, token, ttlMs)
  }

  changes(): SessionChangeFeed | null {
    return this.stores.changes()
  }

  ping(): Promise<void> {
    return this.stores.ping()
  }

  configurationWarnings(): Promise<string[]> {
    return this.stores.configurationWarnings()
  }

  close(): Promise<void> {
    return this.stores.close()
  }
}
