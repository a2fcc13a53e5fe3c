import { Redis } from 'ioredis'
import { RedisRateLimitStore } from '../rate-limit/redis-rate-limit-store.js'
import type { SessionChangeFeed, StoreSet } from './interfaces.js'
import { RedisClusterSessionChanges } from './redis-cluster-changes.js'
import { RedisConnections, type RedisStoreOptions } from './redis-connections.js'
import { RedisLocks } from './redis-locks.js'
import { RedisReplayCache } from './redis-replay-cache.js'
import { RedisSessionChanges } from './redis-session-changes.js'
import { RedisSessionIndexes } from './redis-session-indexes.js'
import { RedisSessionRecords } from './redis-session-records.js'
import { RedisSharedTokens } from './redis-shared-tokens.js'
import { RedisTransactions } from './redis-transactions.js'

export interface RedisStoreSet extends StoreSet {
  readonly kind: 'redis'
  /** The connections every member shares (operators, tests). */
  readonly connections: RedisConnections
  readonly sessions: RedisSessionRecords
  readonly sharedTokens: RedisSharedTokens
  /** Waits up to `timeoutMs` (default 2 s) for the connection, then PINGs. */
  ping(timeoutMs?: number): Promise<void>
}

/**
 * Every store on one Redis (standalone, Sentinel or Cluster) and one set of connections, plus
 * one subscriber connection for the change feed once it is asked for. On standalone Redis and
 * Sentinel, PINGs on that connection prove its liveness; on a Cluster, heartbeats published
 * through every master do (see RedisClusterSessionChanges).
 */
export function createRedisStores(options: RedisStoreOptions): RedisStoreSet {
  const connections = new RedisConnections(options)
  let changes: SessionChangeFeed | undefined
  return {
    kind: 'redis',
    connections,
    sessions: new RedisSessionRecords(connections),
    indexes: new RedisSessionIndexes(connections),
    transactions: new RedisTransactions(connections),
    replayCache: new RedisReplayCache(connections),
    locks: new RedisLocks(connections),
    sharedTokens: new RedisSharedTokens(connections),
    rateLimits: new RedisRateLimitStore(connections.redis, connections.keyPrefix),
    changes() {
      const { redis, changesChannel } = connections
      changes ??=
        redis instanceof Redis
          ? new RedisSessionChanges(redis, changesChannel)
          : new RedisClusterSessionChanges(redis, changesChannel)
      return changes
    },
    ping: (timeoutMs) => connections.ping(timeoutMs),
    configurationWarnings: () => connections.configurationWarnings(),
    async close() {
      await changes?.close()
      await connections.close()
    },
  }
}
