import type { Redis, RedisOptions } from 'ioredis'
import {
  clientOptions,
  createRedisClient,
  dataNodes,
  type RedisClient,
  type RedisTarget,
} from './redis-client.js'
import { COMPARE_AND_SET, CREATE, EXTEND, FIND, INDEX, RELEASE, TOUCH } from './redis-scripts.js'

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

export type RedisKeyKind = 'session' | 'tx' | 'lock' | 'once' | 'token'

/**
 * The Redis connections every store of one set shares: `redis` for everything, and `durable`
 * for writes that must reach replicas (WAIT counts the writes made on its own connection, and
 * blocks that connection while it waits, so it has one of its own; without WAIT it is `redis`).
 */
export class RedisConnections {
  readonly redis: RedisClient
  readonly durable: RedisClient
  readonly keyPrefix: string
  /** Where replaced and deleted session keys are published for every instance's cache. */
  readonly changesChannel: string
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
    this.durable = this.#waitReplicas > 0 ? client() : this.redis
    // Within the command timeout, so a replica that does not confirm is an answer, not a timeout.
    this.#waitMs = Math.max(10, Math.floor(commandTimeoutMs / 2))
  }

  /**
   * Every key carries its id as a Redis Cluster hash tag: each script and MULTI touches one
   * key, so each stays in one slot.
   */
  key(kind: RedisKeyKind, id: string): string {
    return `${this.keyPrefix}${kind}:{${id}}`
  }

  /** Runs one of the scripts defined above, on `redis` unless another connection is named. */
  script<T = number>(name: string, args: (string | number)[], on = this.redis): Promise<T> {
    const command = (on as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[
      name
    ]
    if (!command) throw new Error(`redis script ${name} not defined`)
    return command.apply(on, args)
  }

  /** Whether the writes made so far on the durable connection reached the replicas asked for. */
  async replicated(): Promise<boolean> {
    if (this.#waitReplicas === 0) return true
    const acknowledged = await (this.durable as Redis).wait(this.#waitReplicas, this.#waitMs)
    return acknowledged >= this.#waitReplicas
  }

  async confirmed(what: string): Promise<void> {
    if (!(await this.replicated())) {
      throw new Error(
        `${what} not confirmed by ${this.#waitReplicas} replica(s) within ${this.#waitMs} ms`,
      )
    }
  }

  /** Waits (bounded) for the connection, then PINGs: used at start and by /readyz. */
  async ping(timeoutMs = 2000): Promise<void> {
    const redis = this.redis
    if (redis.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          redis.off('ready', onReady)
          reject(new Error(`redis not ready after ${timeoutMs} ms (status ${redis.status})`))
        }, timeoutMs)
        const onReady = () => {
          clearTimeout(timer)
          resolve()
        }
        redis.once('ready', onReady)
      })
    }
    await redis.ping()
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

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect())
    if (this.durable !== this.redis) {
      await this.durable.quit().catch(() => this.durable.disconnect())
    }
  }
}
