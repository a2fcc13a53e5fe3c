import type { LoginTransaction } from '../session/types.js'
import type { TransactionStore } from './interfaces.js'
import type { RedisConnections } from './redis-connections.js'

/** Login transactions as JSON strings with a TTL, taken with GETDEL (used once). */
export class RedisTransactions implements TransactionStore {
  readonly #connections: RedisConnections

  constructor(connections: RedisConnections) {
    this.#connections = connections
  }

  async putTransaction(state: string, tx: LoginTransaction, ttlMs: number) {
    const { redis } = this.#connections
    await redis.set(this.#connections.key('tx', state), JSON.stringify(tx), 'PX', Math.ceil(ttlMs))
  }

  async takeTransaction(state: string): Promise<LoginTransaction | null> {
    const raw = await this.#connections.redis.getdel(this.#connections.key('tx', state))
    return raw ? (JSON.parse(raw) as LoginTransaction) : null
  }
}
