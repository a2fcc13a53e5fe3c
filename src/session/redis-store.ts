import { Redis, type RedisOptions } from 'ioredis'
import { inBatches } from '../lib/in-batches.js'
import { randomId } from '../lib/random.js'
import {
  clientOptions,
  createRedisClient,
  dataNodes,
  type RedisClient,
  type RedisTarget,
} from './redis-client.js'
import { RedisClusterSessionChanges } from './redis-cluster-changes.js'
import { COMPARE_AND_SET, CREATE, EXTEND, FIND, INDEX, RELEASE, TOUCH } from './redis-scripts.js'
import { RedisSessionChanges } from './redis-session-changes.js'
import { indexName, indexNamesOf } from './session-index.js'
import {
  DELETE_BATCH_SIZE,
  type SessionChangeFeed,
  type SessionIndexQuery,
  type SessionOwner,
  type SessionStore,
} from './store.js'
import type { AccessToken, LoginTransaction, SessionData, StoredSession } from './types.js'

export type RedisStoreOptions = (RedisTarget | { target: RedisTarget }) & {
  keyPrefix: string
  /** Milliseconds before a command fails instead of hanging (fail closed, answer 503). */
  commandTimeoutMs?: number
  /**
   * Replicas a session write or a lock must reach (WAIT) before it counts; 0: not waited for.
   * Not on Cluster (config refuses it there).
   */
  waitReplicas?: number
  redisOptions?: RedisOptions
}

function decode(fields: (string | null)[]): StoredSession | null {
  const [version, data, seen] = fields
  if (version == null || data == null || seen == null) return null
  return {
    ...(JSON.parse(data) as SessionData),
    version: Number(version),
    lastSeenAt: Number(seen),
  }
}

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis' as const
  readonly redis: RedisClient
  readonly keyPrefix: string
  /** Where replaced and deleted session keys are published for every instance's cache. */
  readonly changesChannel: string
  #changes: SessionChangeFeed | undefined
  /**
   * The connection for writes that must reach replicas: WAIT counts the writes made on its own
   * connection, and blocks that connection while it waits, so it has one of its own.
   */
  readonly #durable: RedisClient
  readonly #waitReplicas: number
  readonly #waitMs: number

  constructor(options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix
    this.changesChannel = `${options.keyPrefix}session-changes`
    const target = 'target' in options ? options.target : options
    const commandTimeoutMs = options.commandTimeoutMs ?? 1000
    const client = () => {
      const redis = createRedisClient(target, {
        ...clientOptions(commandTimeoutMs),
        ...options.redisOptions,
      })
      // Errors surface on each command; this only stops ioredis from printing unhandled events.
      redis.on('error', () => {})
      redis.defineCommand('bffCreate', { numberOfKeys: 1, lua: CREATE })
      redis.defineCommand('bffCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET })
      redis.defineCommand('bffTouch', { numberOfKeys: 1, lua: TOUCH })
      redis.defineCommand('bffExtend', { numberOfKeys: 1, lua: EXTEND })
      redis.defineCommand('bffRelease', { numberOfKeys: 1, lua: RELEASE })
      redis.defineCommand('bffIndex', { numberOfKeys: 1, lua: INDEX })
      redis.defineCommand('bffFind', { numberOfKeys: 1, lua: FIND })
      return redis
    }
    this.redis = client()
    this.#waitReplicas = options.waitReplicas ?? 0
    this.#durable = this.#waitReplicas > 0 ? client() : this.redis
    // Within the command timeout, so a replica that does not confirm is an answer, not a timeout.
    this.#waitMs = Math.max(10, Math.floor(commandTimeoutMs / 2))
  }

  /** Whether the writes made so far on the durable connection reached the replicas asked for. */
  async #replicated(): Promise<boolean> {
    if (this.#waitReplicas === 0) return true
    const acknowledged = await (this.#durable as Redis).wait(this.#waitReplicas, this.#waitMs)
    return acknowledged >= this.#waitReplicas
  }

  async #confirmed(what: string): Promise<void> {
    if (!(await this.#replicated())) {
      throw new Error(
        `${what} not confirmed by ${this.#waitReplicas} replica(s) within ${this.#waitMs} ms`,
      )
    }
  }

  /**
   * Every key carries its id as a Redis Cluster hash tag: each script and MULTI below touches
   * one key, so each stays in one slot.
   */
  #key(kind: 'session' | 'tx' | 'lock' | 'once' | 'token', id: string) {
    return `${this.keyPrefix}${kind}:{${id}}`
  }

  /** The Redis key holding a session (operators, raw-dump tests). */
  redisKeyOfSession(key: string): string {
    return this.#key('session', key)
  }

  #script<T = number>(name: string, ...args: (string | number)[]): Promise<T> {
    return this.#scriptOn(this.redis, name, ...args)
  }

  #scriptOn<T = number>(
    redis: RedisClient,
    name: string,
    ...args: (string | number)[]
  ): Promise<T> {
    const command = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[
      name
    ]
    if (!command) throw new Error(`redis script ${name} not defined`)
    return command.apply(redis, args)
  }

  async getSession(key: string): Promise<StoredSession | null> {
    return decode(await this.redis.hmget(this.#key('session', key), 'v', 'd', 's'))
  }

  async createSession(key: string, data: SessionData, lastSeenAt: number, ttlMs: number) {
    const created = await this.#scriptOn(
      this.#durable,
      'bffCreate',
      this.#key('session', key),
      JSON.stringify(data),
      lastSeenAt,
      Math.ceil(ttlMs),
    )
    if (created === 1) await this.#confirmed('session write')
    return created === 1
  }

  async replaceSession(key: string, data: SessionData, expectedVersion: number, ttlMs: number) {
    const written = await this.#scriptOn(
      this.#durable,
      'bffCompareAndSet',
      this.#key('session', key),
      String(expectedVersion),
      String(expectedVersion + 1),
      JSON.stringify(data),
      Math.ceil(ttlMs),
    )
    if (written !== 1) return false
    // After the write: a cache that drops the key now can only re-read the new version.
    await this.redis.publish(this.changesChannel, key)
    // Not confirmed: the caller keeps the token set to write again (TokenRefresher), which a
    // promoted replica still at the old version accepts.
    await this.#confirmed('session write')
    return true
  }

  async touchSession(key: string, lastSeenAt: number, ttlMs: number) {
    await this.#script('bffTouch', this.#key('session', key), lastSeenAt, Math.ceil(ttlMs))
  }

  async deleteSession(key: string): Promise<StoredSession | null> {
    const redisKey = this.#key('session', key)
    // The delete and its announcement in one transaction: no instance keeps serving a session
    // that is gone because a crash fell between the two.
    const results = await this.redis
      .multi()
      .hmget(redisKey, 'v', 'd', 's')
      .del(redisKey)
      .publish(this.changesChannel, key)
      .exec()
    const fields = results?.[0]?.[1] as (string | null)[] | undefined
    return fields ? decode(fields) : null
  }

  async indexSession(key: string, owner: SessionOwner, ttlMs: number): Promise<void> {
    const ttl = Math.ceil(ttlMs)
    await Promise.all(
      indexNamesOf(owner).map((name) =>
        this.#script('bffIndex', `${this.keyPrefix}${name}`, key, ttl),
      ),
    )
  }

  async findSessions(query: SessionIndexQuery): Promise<string[]> {
    return this.#script<string[]>('bffFind', `${this.keyPrefix}${indexName(query)}`)
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
    const head = `${this.keyPrefix}session:{`
    const found: string[] = []
    for (const node of dataNodes(this.redis)) {
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
    const ttl = await this.redis.pttl(this.#key('session', key))
    return ttl >= 0 ? ttl : null
  }

  async rememberOnce(id: string, ttlMs: number): Promise<boolean> {
    const ok = await this.redis.set(this.#key('once', id), '1', 'PX', Math.ceil(ttlMs), 'NX')
    return ok === 'OK'
  }

  async forget(id: string): Promise<void> {
    await this.redis.del(this.#key('once', id))
  }

  async putTransaction(state: string, tx: LoginTransaction, ttlMs: number) {
    await this.redis.set(this.#key('tx', state), JSON.stringify(tx), 'PX', Math.ceil(ttlMs))
  }

  async takeTransaction(state: string): Promise<LoginTransaction | null> {
    const raw = await this.redis.getdel(this.#key('tx', state))
    return raw ? (JSON.parse(raw) as LoginTransaction) : null
  }

  async getSharedToken(name: string): Promise<AccessToken | null> {
    const raw = await this.redis.get(this.#key('token', name))
    return raw ? (JSON.parse(raw) as AccessToken) : null
  }

  async putSharedToken(name: string, token: AccessToken, ttlMs: number): Promise<void> {
    await this.redis.set(this.#key('token', name), JSON.stringify(token), 'PX', Math.ceil(ttlMs))
  }

  /** The Redis key holding a shared token (raw-dump tests). */
  redisKeyOfSharedToken(name: string): string {
    return this.#key('token', name)
  }

  /**
   * A lock the replicas have not confirmed is given back and not granted: after a failover a
   * promoted replica without it would grant it again, and two holders would send one refresh
   * token.
   */
  async acquireLock(name: string, ttlMs: number): Promise<string | null> {
    const token = randomId(16)
    const key = this.#key('lock', name)
    const ok = await this.#durable.set(key, token, 'PX', Math.ceil(ttlMs), 'NX')
    if (ok !== 'OK') return null
    if (await this.#replicated()) return token
    await this.#scriptOn(this.#durable, 'bffRelease', key, token).catch(() => {})
    return null
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const key = this.#key('lock', name)
    const extended = await this.#scriptOn(this.#durable, 'bffExtend', key, token, Math.ceil(ttlMs))
    return extended === 1 && (await this.#replicated())
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    return (await this.#script('bffRelease', this.#key('lock', name), token)) === 1
  }

  /**
   * Redis may evict keys under memory pressure with any policy but `noeviction`, and every
   * key here has a TTL, so even `volatile-*` policies would silently log users out.
   */
  async configurationWarnings(): Promise<string[]> {
    const warnings: string[] = []
    for (const node of dataNodes(this.redis)) {
      const reply = (await node.config('GET', 'maxmemory-policy').catch(() => [])) as string[]
      const policy = reply[1]
      if (policy && policy !== 'noeviction') {
        warnings.push(
          `Redis maxmemory-policy is ${policy}: sessions may be evicted under memory pressure. Use noeviction or a dedicated instance.`,
        )
      }
    }
    return [...new Set(warnings)]
  }

  /**
   * One subscriber connection per store: on standalone Redis and Sentinel, PINGs on it prove
   * its liveness; on a Cluster, heartbeats published through every master do (see
   * RedisClusterSessionChanges).
   */
  changes(): SessionChangeFeed | null {
    this.#changes ??=
      this.redis instanceof Redis
        ? new RedisSessionChanges(this.redis, this.changesChannel)
        : new RedisClusterSessionChanges(this.redis, this.changesChannel)
    return this.#changes
  }

  /** Waits (bounded) for the connection, then PINGs: used at start and by /readyz. */
  async ping(timeoutMs = 2000) {
    if (this.redis.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.redis.off('ready', onReady)
          reject(new Error(`redis not ready after ${timeoutMs} ms (status ${this.redis.status})`))
        }, timeoutMs)
        const onReady = () => {
          clearTimeout(timer)
          resolve()
        }
        this.redis.once('ready', onReady)
      })
    }
    await this.redis.ping()
  }

  async close() {
    await this.#changes?.close()
    await this.redis.quit().catch(() => this.redis.disconnect())
    if (this.#durable !== this.redis) {
      await this.#durable.quit().catch(() => this.#durable.disconnect())
    }
  }
}
