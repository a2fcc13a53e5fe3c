import { Redis, type RedisOptions } from 'ioredis'
import { randomId } from '../lib/random.js'
import { indexName, indexNamesOf } from './session-index.js'
import type { SessionIndexQuery, SessionOwner, SessionStore } from './store.js'
import type { LoginTransaction, SessionData, StoredSession } from './types.js'

/*
 * A session is one hash: v = version, d = JSON of SessionData, s = lastSeenAt (ms).
 * Keeping lastSeenAt apart lets sliding renewal touch one field without rewriting tokens.
 */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', '1', 'd', ARGV[1], 's', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`

const COMPARE_AND_SET = `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`

const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`

const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/*
 * An index is a sorted set of session keys scored by when each entry expires (server time,
 * ms). Adding an entry prunes expired ones and only ever lengthens the set's own TTL, so the
 * set disappears with its longest-lived session. One key per script: Cluster-safe.
 */
const INDEX = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'GT', now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`

const FIND = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')`

export interface RedisStoreOptions {
  url: string
  keyPrefix: string
  /** Milliseconds before a command fails instead of hanging (fail closed, answer 503). */
  commandTimeoutMs?: number
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
  readonly redis: Redis
  readonly keyPrefix: string

  constructor(options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix
    this.redis = new Redis(options.url, {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
      ...options.redisOptions,
    })
    // Errors surface on each command; this only stops ioredis from printing unhandled events.
    this.redis.on('error', () => {})
    this.redis.defineCommand('bffCreate', { numberOfKeys: 1, lua: CREATE })
    this.redis.defineCommand('bffCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET })
    this.redis.defineCommand('bffTouch', { numberOfKeys: 1, lua: TOUCH })
    this.redis.defineCommand('bffExtend', { numberOfKeys: 1, lua: EXTEND })
    this.redis.defineCommand('bffRelease', { numberOfKeys: 1, lua: RELEASE })
    this.redis.defineCommand('bffIndex', { numberOfKeys: 1, lua: INDEX })
    this.redis.defineCommand('bffFind', { numberOfKeys: 1, lua: FIND })
  }

  #key(kind: 'session' | 'tx' | 'lock' | 'once', id: string) {
    return `${this.keyPrefix}${kind}:${id}`
  }

  #script<T = number>(name: string, ...args: (string | number)[]): Promise<T> {
    const command = (
      this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>
    )[name]
    if (!command) throw new Error(`redis script ${name} not defined`)
    return command.apply(this.redis, args)
  }

  async getSession(key: string): Promise<StoredSession | null> {
    return decode(await this.redis.hmget(this.#key('session', key), 'v', 'd', 's'))
  }

  async createSession(key: string, data: SessionData, lastSeenAt: number, ttlMs: number) {
    const created = await this.#script(
      'bffCreate',
      this.#key('session', key),
      JSON.stringify(data),
      lastSeenAt,
      Math.ceil(ttlMs),
    )
    return created === 1
  }

  async replaceSession(key: string, data: SessionData, expectedVersion: number, ttlMs: number) {
    const written = await this.#script(
      'bffCompareAndSet',
      this.#key('session', key),
      String(expectedVersion),
      String(expectedVersion + 1),
      JSON.stringify(data),
      Math.ceil(ttlMs),
    )
    return written === 1
  }

  async touchSession(key: string, lastSeenAt: number, ttlMs: number) {
    await this.#script('bffTouch', this.#key('session', key), lastSeenAt, Math.ceil(ttlMs))
  }

  async deleteSession(key: string): Promise<StoredSession | null> {
    const redisKey = this.#key('session', key)
    const results = await this.redis.multi().hmget(redisKey, 'v', 'd', 's').del(redisKey).exec()
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

  async deleteSessions(keys: readonly string[]) {
    if (keys.length === 0) return []
    // One MULTI: every instance sees all of these sessions gone at the same moment.
    const multi = this.redis.multi()
    for (const key of keys) {
      const redisKey = this.#key('session', key)
      multi.hmget(redisKey, 'v', 'd', 's').del(redisKey)
    }
    const results = (await multi.exec()) ?? []
    const deleted: Array<{ key: string; session: StoredSession }> = []
    keys.forEach((key, i) => {
      const [error, fields] = results[i * 2] ?? []
      if (error) throw error
      const session = fields ? decode(fields as (string | null)[]) : null
      if (session) deleted.push({ key, session })
    })
    return deleted
  }

  /** Operator tooling: the store keys of sessions whose key starts with `start` (no glob characters). */
  async sessionKeysStartingWith(start: string): Promise<string[]> {
    if (!/^[A-Za-z0-9_-]+$/.test(start)) throw new Error('expected a base64url key prefix')
    const head = this.#key('session', '')
    const found: string[] = []
    let cursor = '0'
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${head}${start}*`, 'COUNT', 1000)
      cursor = next
      found.push(...keys.map((key) => key.slice(head.length)))
    } while (cursor !== '0')
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

  async acquireLock(name: string, ttlMs: number): Promise<string | null> {
    const token = randomId(16)
    const ok = await this.redis.set(this.#key('lock', name), token, 'PX', Math.ceil(ttlMs), 'NX')
    return ok === 'OK' ? token : null
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.#script('bffExtend', this.#key('lock', name), token, Math.ceil(ttlMs))) === 1
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    return (await this.#script('bffRelease', this.#key('lock', name), token)) === 1
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
    await this.redis.quit().catch(() => this.redis.disconnect())
  }
}
