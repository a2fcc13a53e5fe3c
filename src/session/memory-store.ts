import { type Clock, systemClock } from '../lib/clock.js'
import { randomId } from '../lib/random.js'
import { indexName, indexNamesOf } from './session-index.js'
import type { SessionChangeFeed, SessionIndexQuery, SessionOwner, SessionStore } from './store.js'
import type { AccessToken, LoginTransaction, SessionData, StoredSession } from './types.js'

interface Entry<T> {
  value: T
  expiresAt: number
}

/**
 * In-process store for local demos and tests: same contract as Redis, one process only.
 * Values are deep-copied in and out so callers never share mutable state with the store.
 */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory' as const
  readonly #sessions = new Map<string, Entry<StoredSession>>()
  readonly #transactions = new Map<string, Entry<LoginTransaction>>()
  readonly #locks = new Map<string, Entry<string>>()
  /** Index name → (session key → when that entry expires), like the Redis sorted sets. */
  readonly #indexes = new Map<string, Entry<Map<string, number>>>()
  readonly #remembered = new Map<string, Entry<true>>()
  readonly #sharedTokens = new Map<string, Entry<AccessToken>>()
  readonly #clock: Clock
  readonly #listeners: Array<(key: string | null) => void> = []
  /** One process: every change is seen at once, so the feed is always live. */
  readonly #changes: SessionChangeFeed = {
    live: true,
    subscribe: (listener) => {
      this.#listeners.push(listener)
    },
    close: async () => {},
  }

  constructor(clock: Clock = systemClock) {
    this.#clock = clock
  }

  #live<T>(map: Map<string, Entry<T>>, key: string): Entry<T> | undefined {
    const entry = map.get(key)
    if (entry && entry.expiresAt <= this.#clock.now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  async getSession(key: string): Promise<StoredSession | null> {
    const entry = this.#live(this.#sessions, key)
    return entry ? structuredClone(entry.value) : null
  }

  async createSession(key: string, data: SessionData, lastSeenAt: number, ttlMs: number) {
    if (this.#live(this.#sessions, key)) return false
    const value = structuredClone({ ...data, version: 1, lastSeenAt })
    this.#sessions.set(key, { value, expiresAt: this.#clock.now() + ttlMs })
    return true
  }

  async replaceSession(key: string, data: SessionData, expectedVersion: number, ttlMs: number) {
    const entry = this.#live(this.#sessions, key)
    if (!entry || entry.value.version !== expectedVersion) return false
    const value = structuredClone({
      ...data,
      version: expectedVersion + 1,
      lastSeenAt: entry.value.lastSeenAt,
    })
    this.#sessions.set(key, { value, expiresAt: this.#clock.now() + ttlMs })
    this.#changed(key)
    return true
  }

  async touchSession(key: string, lastSeenAt: number, ttlMs: number) {
    const entry = this.#live(this.#sessions, key)
    if (!entry) return
    entry.value.lastSeenAt = lastSeenAt
    entry.expiresAt = this.#clock.now() + ttlMs
  }

  async deleteSession(key: string): Promise<StoredSession | null> {
    const entry = this.#live(this.#sessions, key)
    this.#sessions.delete(key)
    this.#changed(key)
    return entry ? entry.value : null
  }

  changes(): SessionChangeFeed {
    return this.#changes
  }

  #changed(key: string): void {
    for (const listener of this.#listeners) listener(key)
  }

  async indexSession(key: string, owner: SessionOwner, ttlMs: number): Promise<void> {
    const now = this.#clock.now()
    const deadline = now + ttlMs
    for (const name of indexNamesOf(owner)) {
      const entry = this.#live(this.#indexes, name) ?? { value: new Map(), expiresAt: deadline }
      entry.value.set(key, Math.max(entry.value.get(key) ?? 0, deadline))
      for (const [member, expiresAt] of entry.value) {
        if (expiresAt < now) entry.value.delete(member)
      }
      entry.expiresAt = Math.max(entry.expiresAt, deadline)
      this.#indexes.set(name, entry)
    }
  }

  async findSessions(query: SessionIndexQuery): Promise<string[]> {
    const entry = this.#live(this.#indexes, indexName(query))
    const now = this.#clock.now()
    return entry ? [...entry.value].filter(([, at]) => at >= now).map(([key]) => key) : []
  }

  async deleteSessions(keys: readonly string[]) {
    // No round trips to save, and each deletion costs a Map delete: one step, no batches.
    const deleted: Array<{ key: string; session: StoredSession }> = []
    for (const key of keys) {
      const entry = this.#live(this.#sessions, key)
      this.#sessions.delete(key)
      this.#changed(key)
      if (entry) deleted.push({ key, session: entry.value })
    }
    return deleted
  }

  async rememberOnce(id: string, ttlMs: number): Promise<boolean> {
    if (this.#live(this.#remembered, id)) return false
    this.#remembered.set(id, { value: true, expiresAt: this.#clock.now() + ttlMs })
    return true
  }

  async forget(id: string): Promise<void> {
    this.#remembered.delete(id)
  }

  /** Names of everything still held (expired entries swept first); tests prove nothing lingers. */
  residentKeys(): string[] {
    const maps = {
      session: this.#sessions,
      tx: this.#transactions,
      lock: this.#locks,
      once: this.#remembered,
      token: this.#sharedTokens,
      '': this.#indexes,
    } as Record<string, Map<string, Entry<unknown>>>
    return Object.entries(maps).flatMap(([kind, map]) =>
      [...map.keys()]
        .filter((key) => this.#live(map, key))
        .map((key) => (kind ? `${kind}:${key}` : key)),
    )
  }

  async putTransaction(state: string, tx: LoginTransaction, ttlMs: number) {
    this.#transactions.set(state, {
      value: structuredClone(tx),
      expiresAt: this.#clock.now() + ttlMs,
    })
  }

  async takeTransaction(state: string): Promise<LoginTransaction | null> {
    const entry = this.#live(this.#transactions, state)
    this.#transactions.delete(state)
    return entry ? entry.value : null
  }

  async getSharedToken(name: string): Promise<AccessToken | null> {
    const entry = this.#live(this.#sharedTokens, name)
    return entry ? structuredClone(entry.value) : null
  }

  async putSharedToken(name: string, token: AccessToken, ttlMs: number): Promise<void> {
    this.#sharedTokens.set(name, {
      value: structuredClone(token),
      expiresAt: this.#clock.now() + ttlMs,
    })
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | null> {
    if (this.#live(this.#locks, name)) return null
    const token = randomId(16)
    this.#locks.set(name, { value: token, expiresAt: this.#clock.now() + ttlMs })
    return token
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const entry = this.#live(this.#locks, name)
    if (!entry || entry.value !== token) return false
    entry.expiresAt = this.#clock.now() + ttlMs
    return true
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    const entry = this.#live(this.#locks, name)
    if (!entry || entry.value !== token) return false
    this.#locks.delete(name)
    return true
  }

  async ping() {}

  async close() {
    this.#sessions.clear()
    this.#transactions.clear()
    this.#locks.clear()
    this.#indexes.clear()
    this.#remembered.clear()
    this.#sharedTokens.clear()
  }
}
