import { indexName, indexNamesOf } from './index-names.js'
import type { SessionIndexQuery, SessionIndexStore, SessionOwner } from './interfaces.js'
import type { RedisConnections } from './redis-connections.js'

/** The back-channel logout indexes as Redis sorted sets scored by expiry (see redis-scripts.ts). */
export class RedisSessionIndexes implements SessionIndexStore {
  readonly #connections: RedisConnections

  constructor(connections: RedisConnections) {
    this.#connections = connections
  }

  async indexSession(key: string, owner: SessionOwner, ttlMs: number): Promise<void> {
    const ttl = Math.ceil(ttlMs)
    const prefix = this.#connections.keyPrefix
    await Promise.all(
      indexNamesOf(owner).map((name) =>
        this.#connections.script('bffIndex', [`${prefix}${name}`, key, ttl]),
      ),
    )
  }

  async findSessions(query: SessionIndexQuery): Promise<string[]> {
    const name = `${this.#connections.keyPrefix}${indexName(query)}`
    return this.#connections.script<string[]>('bffFind', [name])
  }
}
