import { randomId } from '../lib/random.js'
import type { LockStore } from './interfaces.js'
import type { RedisConnections } from './redis-connections.js'

/**
 * Locks as `SET NX PX` keys holding their holder's random token, extended and released by
 * compare-and-set scripts. On the durable connection: with WAIT, a lock counts only once the
 * replicas have it.
 */
export class RedisLocks implements LockStore {
  readonly #connections: RedisConnections

  constructor(connections: RedisConnections) {
    this.#connections = connections
  }

  /**
   * A lock the replicas have not confirmed is given back and not granted: after a failover a
   * promoted replica without it would grant it again, and two holders would send one refresh
   * token.
   */
  async acquireLock(name: string, ttlMs: number): Promise<string | null> {
    const connections = this.#connections
    const token = randomId(16)
    const key = connections.key('lock', name)
    const ok = await connections.durable.set(key, token, 'PX', Math.ceil(ttlMs), 'NX')
    if (ok !== 'OK') return null
    if (await connections.replicated()) return token
    await connections.script('bffRelease', [key, token], connections.durable).catch(() => {})
    return null
  }

  async extendLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const connections = this.#connections
    const key = connections.key('lock', name)
    const extended = await connections.script(
      'bffExtend',
      [key, token, Math.ceil(ttlMs)],
      connections.durable,
    )
    return extended === 1 && (await connections.replicated())
  }

  async releaseLock(name: string, token: string): Promise<boolean> {
    const key = this.#connections.key('lock', name)
    return (await this.#connections.script('bffRelease', [key, token])) === 1
  }
}
