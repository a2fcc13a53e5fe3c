import { inBatches } from '../lib/in-batches.js'
import type { SessionData, StoredSession } from '../session/types.js'
import { DELETE_BATCH_SIZE, type SessionRecordStore } from './interfaces.js'
import { dataNodes } from './redis-client.js'
import type { RedisConnections } from './redis-connections.js'

/** A session is one hash: v = version, d = JSON of SessionData, s = lastSeenAt (ms). */
function decode(fields: (string | null)[]): StoredSession | null {
  const [version, data, seen] = fields
  if (version == null || data == null || seen == null) return null
  return {
    ...(JSON.parse(data) as SessionData),
    version: Number(version),
    lastSeenAt: Number(seen),
  }
}

/**
 * Sessions in Redis. Every replace and delete is published on the change feed's channel after
 * (or, for a delete, with) the write, so no instance's cache keeps serving the old record.
 */
export class RedisSessionRecords implements SessionRecordStore {
  readonly #connections: RedisConnections

  constructor(connections: RedisConnections) {
    this.#connections = connections
  }

  /** The Redis key holding a session (operators, raw-dump tests). */
  redisKeyOf(key: string): string {
    return this.#connections.key('session', key)
  }

  async getSession(key: string): Promise<StoredSession | null> {
    return decode(await this.#connections.redis.hmget(this.redisKeyOf(key), 'v', 'd', 's'))
  }

  async createSession(key: string, data: SessionData, lastSeenAt: number, ttlMs: number) {
    const connections = this.#connections
    const created = await connections.script(
      'bffCreate',
      [this.redisKeyOf(key), JSON.stringify(data), lastSeenAt, Math.ceil(ttlMs)],
      connections.durable,
    )
    if (created === 1) await connections.confirmed('session write')
    return created === 1
  }

  async replaceSession(key: string, data: SessionData, expectedVersion: number, ttlMs: number) {
    const connections = this.#connections
    const written = await connections.script(
      'bffCompareAndSet',
      [
        this.redisKeyOf(key),
        String(expectedVersion),
        String(expectedVersion + 1),
        JSON.stringify(data),
        Math.ceil(ttlMs),
      ],
      connections.durable,
    )
    if (written !== 1) return false
    // After the write: a cache that drops the key now can only re-read the new version.
    await connections.redis.publish(connections.changesChannel, key)
    // Not confirmed: the caller keeps the token set to write again (TokenRefresher), which a
    // promoted replica still at the old version accepts.
    await connections.confirmed('session write')
    return true
  }

  async touchSession(key: string, lastSeenAt: number, ttlMs: number) {
    await this.#connections.script('bffTouch', [this.redisKeyOf(key), lastSeenAt, Math.ceil(ttlMs)])
  }

  async deleteSession(key: string): Promise<StoredSession | null> {
    const redisKey = this.redisKeyOf(key)
    // The delete and its announcement in one transaction: no instance keeps serving a session
    // that is gone because a crash fell between the two.
    const results = await this.#connections.redis
      .multi()
      .hmget(redisKey, 'v', 'd', 's')
      .del(redisKey)
      .publish(this.#connections.changesChannel, key)
      .exec()
    const fields = results?.[0]?.[1] as (string | null)[] | undefined
    return fields ? decode(fields) : null
  }

  /**
   * Each session is deleted atomically; together they are not (they may live in different
   * Cluster slots). One slice of keys at a time: its MULTIs leave in one write (auto-pipelining)
   * and the next slice waits for their replies.
   */
  async deleteSessions(keys: readonly string[]) {
    return inBatches(keys, DELETE_BATCH_SIZE, async (batch) => {
      const sessions = await Promise.all(batch.map((key) => this.deleteSession(key)))
      return batch.flatMap((key, i) => {
        const session = sessions[i]
        return session ? [{ key, session }] : []
      })
    })
  }

  /** Operator tooling: the store keys of sessions whose key starts with `start` (no glob characters). */
  async sessionKeysStartingWith(start: string): Promise<string[]> {
    if (!/^[A-Za-z0-9_-]+$/.test(start)) throw new Error('expected a base64url key prefix')
    const head = `${this.#connections.keyPrefix}session:{`
    const found: string[] = []
    for (const node of dataNodes(this.#connections.redis)) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${head}${start}*`, 'COUNT', 1000)
        cursor = next
        found.push(...keys.map((key) => key.slice(head.length, -1)))
      } while (cursor !== '0')
    }
    return [...new Set(found)]
  }

  /** Operator tooling: milliseconds until the session expires (idle or absolute), null when gone. */
  async sessionTtlMs(key: string): Promise<number | null> {
    const ttl = await this.#connections.redis.pttl(this.redisKeyOf(key))
    return ttl >= 0 ? ttl : null
  }
}
