import type { Clock } from '../lib/clock.js'
import { randomId } from '../lib/random.js'
import { MemoryRateLimitStore } from '../rate-limit/store.js'
import type { AccessToken, LoginTransaction } from '../session/types.js'
import { ExpiringMap } from './expiring-map.js'
import type {
  LockStore,
  ReplayCache,
  SharedTokenStore,
  StoreSet,
  TransactionStore,
} from './interfaces.js'
import {
  MemoryChangeFeed,
  MemorySessionIndexes,
  MemorySessionRecords,
} from './memory-session-stores.js'

class MemoryTransactions implements TransactionStore {
  readonly entries: ExpiringMap<LoginTransaction>

  constructor(clock: Clock) {
    this.entries = new ExpiringMap(clock)
  }

  async putTransaction(state: string, tx: LoginTransaction, ttlMs: number) {
    this.entries.set(state, structuredClone(tx), ttlMs)
  }

  async takeTransaction(state: string): Promise<LoginTransaction | null> {
    const entry = this.entries.get(state)
    this.entries.delete(state)
    return entry ? entry.value : null
  }
}

class MemoryReplayCache implements ReplayCache {
  readonly entries: ExpiringMap<true>

  constructor(clock: Clock) {
    this.entries = new ExpiringMap(clock)
  }

  async rememberOnce(id: string, ttlMs: number): Promise<boolean> {
    if (this.entries.get(id)) return false
    this.entries.set(id, true, ttlMs)
    return true
  }

  async forget(id: string): Promise<void> {
    this.entries.delete(id)
  }
}

class MemoryLocks implements LockStore {
  readonly entries: ExpiringMap<string>

  constructor(clock: Clock) {
    this.entries = new ExpiringMap(clock)
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | null> {
    if (this.entries.get(name)) return null
    const token = randomId(16)
    this.entries.set(name, token, ttlMs)
    return token
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const entry = this.entries.get(name)
    if (!entry || entry.value !== token) return false
    this.entries.set(name, token, ttlMs)
    return true
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    const entry = this.entries.get(name)
    if (!entry || entry.value !== token) return false
    this.entries.delete(name)
    return true
  }
}

class MemorySharedTokens implements SharedTokenStore {
  readonly entries: ExpiringMap<AccessToken>

  constructor(clock: Clock) {
    this.entries = new ExpiringMap(clock)
  }

  async getSharedToken(name: string): Promise<AccessToken | null> {
    const entry = this.entries.get(name)
    return entry ? structuredClone(entry.value) : null
  }

  async putSharedToken(name: string, token: AccessToken, ttlMs: number): Promise<void> {
    this.entries.set(name, structuredClone(token), ttlMs)
  }
}

export interface MemoryStoreSet extends StoreSet {
  readonly kind: 'memory'
  /** Names of everything still held (expired entries swept first); tests prove nothing lingers. */
  residentKeys(): string[]
}

/**
 * Every store in this process, for local demos and tests: the same contracts as Redis, one
 * process only. Values are deep-copied in and out so callers never share mutable state with
 * the store.
 */
export function createMemoryStores(clock: Clock): MemoryStoreSet {
  const feed = new MemoryChangeFeed()
  const sessions = new MemorySessionRecords(clock, feed)
  const indexes = new MemorySessionIndexes(clock)
  const transactions = new MemoryTransactions(clock)
  const replayCache = new MemoryReplayCache(clock)
  const locks = new MemoryLocks(clock)
  const sharedTokens = new MemorySharedTokens(clock)
  const held = {
    session: sessions.entries,
    tx: transactions.entries,
    lock: locks.entries,
    once: replayCache.entries,
    token: sharedTokens.entries,
    '': indexes.entries,
  }
  return {
    kind: 'memory',
    sessions,
    indexes,
    transactions,
    replayCache,
    locks,
    sharedTokens,
    rateLimits: new MemoryRateLimitStore(clock),
    changes: () => feed,
    ping: async () => {},
    configurationWarnings: async () => [],
    residentKeys: () =>
      Object.entries(held).flatMap(([kind, entries]) =>
        entries.liveKeys().map((key) => (kind ? `${kind}:${key}` : key)),
      ),
    async close() {
      for (const entries of Object.values(held)) entries.clear()
    },
  }
}
