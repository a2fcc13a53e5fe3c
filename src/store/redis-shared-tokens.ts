import type { AccessToken } from '../session/types.js'
import type { SharedTokenStore } from './interfaces.js'
import type { RedisConnections } from './redis-connections.js'

/** Shared tokens as JSON strings with a TTL (their fields arrive encrypted). */
export class RedisSharedTokens implements SharedTokenStore {
  readonly #connections: RedisConnections

  constructor(connections: RedisConnections) {
    this.#connections = connections
  }

  /** The Redis key holding a shared token (raw-dump tests). */
  redisKeyOf(name: string): string {
    return this.#connections.key('token', name)
  }

  async getSharedToken(name: string): Promise<AccessToken | null> {
    const raw = await this.#connections.redis.get(this.redisKeyOf(name))
    return raw ? (JSON.parse(raw) as AccessToken) : null
  }

  async putSharedToken(name: string, token: AccessToken, ttlMs: number): Promise<void> {
    const { redis } = this.#connections
    await redis.set(this.redisKeyOf(name), JSON.stringify(token), 'PX', Math.ceil(ttlMs))
  }
}
