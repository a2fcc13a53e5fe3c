import type { ReplayCache } from './interfaces.js'
import type { RedisConnections } from './redis-connections.js'

/** Remembered ids as keys set with NX and a TTL. */
export class RedisReplayCache implements ReplayCache {
  readonly #connections: RedisConnections

  constructor(connections: RedisConnections) {
    this.#connections = connections
  }

  async rememberOnce(id: string, ttlMs: number): Promise<boolean> {
    const key = this.#connections.key('once', id)
    return (await this.#connections.redis.set(key, '1', 'PX', Math.ceil(ttlMs), 'NX')) === 'OK'
  }

  async forget(id: string): Promise<void> {
    await this.#connections.redis.del(this.#connections.key('once', id))
  }
}
