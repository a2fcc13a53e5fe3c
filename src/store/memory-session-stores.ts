import type { Clock } from '../lib/clock.js'
import type { SessionData, StoredSession } from '../session/types.js'
import { ExpiringMap } from './expiring-map.js'
import { indexName, indexNamesOf } from './index-names.js'
import type {
  SessionChangeFeed,
  SessionIndexQuery,
  SessionIndexStore,
  SessionOwner,
  SessionRecordStore,
} from './interfaces.js'

/** One process: every change is seen at once, so the feed is always live. */
export class MemoryChangeFeed implements SessionChangeFeed {
  readonly live = true
  readonly #listeners: Array<(key: string | null) => void> = []

  subscribe(listener: (key: string | null) => void): void {
    this.#listeners.push(listener)
  }

  announce(key: string): void {
    for (const listener of this.#listeners) listener(key)
  }

  async close(): Promise<void> {}
}

/** Session records in process, deep-copied in and out; each replace and delete is announced. */
export class MemorySessionRecords implements SessionRecordStore {
  readonly entries: ExpiringMap<StoredSession>
  readonly #feed: MemoryChangeFeed

  constructor(clock: Clock, feed: MemoryChangeFeed) {
    this.entries = new ExpiringMap(clock)
    this.#feed = feed
  }

  async getSession(key: string): Promise<StoredSession | null> {
    const entry = this.entries.get(key)
    return entry ? structuredClone(entry.value) : null
  }

  async createSession(key: string, data: SessionData, lastSeenAt: number, ttlMs: number) {
    if (this.entries.get(key)) return false
    this.entries.set(key, structuredClone({ ...data, version: 1, lastSeenAt }), ttlMs)
    return true
  }

  async replaceSession(key: string, data: SessionData, expectedVersion: number, ttlMs: number) {
    const entry = this.entries.get(key)
    if (!entry || entry.value.version !== expectedVersion) return false
    const value = structuredClone({
      ...data,
      version: expectedVersion + 1,
      lastSeenAt: entry.value.lastSeenAt,
    })
    this.entries.set(key, value, ttlMs)
    this.#feed.announce(key)
    return true
  }

  async touchSession(key: string, lastSeenAt: number, ttlMs: number) {
    const entry = this.entries.get(key)
    if (!entry) return
    entry.value.lastSeenAt = lastSeenAt
    this.entries.set(key, entry.value, ttlMs)
  }

  async deleteSession(key: string): Promise<StoredSession | null> {
    return this.#delete(key)
  }

  async deleteSessions(keys: readonly string[]) {
    // No round trips to save, and each deletion costs a Map delete: one step, no batches.
    const deleted: Array<{ key: string; session: StoredSession }> = []
    for (const key of keys) {
      const session = this.#delete(key)
      if (session) deleted.push({ key, session })
    }
    return deleted
  }

  #delete(key: string): StoredSession | null {
    const entry = this.entries.get(key)
    this.entries.delete(key)
    this.#feed.announce(key)
    return entry ? entry.value : null
  }
}

/** Index name → (session key → when that entry expires), like the Redis sorted sets. */
export class MemorySessionIndexes implements SessionIndexStore {
  readonly entries: ExpiringMap<Map<string, number>>
  readonly #clock: Clock

  constructor(clock: Clock) {
    this.entries = new ExpiringMap(clock)
    this.#clock = clock
  }

  async indexSession(key: string, owner: SessionOwner, ttlMs: number): Promise<void> {
    const now = this.#clock.now()
    const deadline = now + ttlMs
    for (const name of indexNamesOf(owner)) {
      const entry = this.entries.get(name) ?? { value: new Map(), expiresAt: deadline }
      entry.value.set(key, Math.max(entry.value.get(key) ?? 0, deadline))
      for (const [member, expiresAt] of entry.value) {
        if (expiresAt < now) entry.value.delete(member)
      }
      entry.expiresAt = Math.max(entry.expiresAt, deadline)
      this.entries.put(name, entry)
    }
  }

  async findSessions(query: SessionIndexQuery): Promise<string[]> {
    const entry = this.entries.get(indexName(query))
    const now = this.#clock.now()
    return entry ? [...entry.value].filter(([, at]) => at >= now).map(([key]) => key) : []
  }
}
