import type { RedisClient } from './redis-client.js'
import type { RedisStoreOptions } from './redis-connections.js'
import { createRedisStores, type RedisStoreSet } from './redis-stores.js'
import { StoreSetView } from './session-store.js'

export type { RedisStoreOptions } from './redis-connections.js'

/**
 * The Redis store set (createRedisStores) as one SessionStore, as earlier versions had it:
 * built from options, or around a set already built (whose members may be wrapped).
 */
export class RedisSessionStore extends StoreSetView {
  declare readonly stores: RedisStoreSet

  constructor(from: RedisStoreOptions | RedisStoreSet) {
    super('connections' in from ? from : createRedisStores(from))
  }

  override get kind(): 'redis' {
    return 'redis'
  }

  /** The connection every command goes through (operators, tests). */
  get redis(): RedisClient {
    return this.stores.connections.redis
  }

  get keyPrefix(): string {
    return this.stores.connections.keyPrefix
  }

  /** The Redis key holding a session (operators, raw-dump tests). */
  redisKeyOfSession(key: string): string {
    return this.stores.sessions.redisKeyOf(key)
  }

  /** The Redis key holding a shared token (raw-dump tests). */
  redisKeyOfSharedToken(name: string): string {
    return this.stores.sharedTokens.redisKeyOf(name)
  }

  /** Waits up to `timeoutMs` (default 2 s) for the connection, then PINGs. */
  override ping(timeoutMs?: number): Promise<void> {
    return this.stores.ping(timeoutMs)
  }
}
