import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import type { Clock } from '../lib/clock.js'
import type { StoreSet } from './interfaces.js'
import { createMemoryStores } from './memory-stores.js'
import type { RedisTarget } from './redis-client.js'
import { createRedisStores } from './redis-stores.js'

function redisTarget(config: BffConfig): RedisTarget | undefined {
  const password = config.redisPassword ? { password: config.redisPassword } : {}
  if (config.redisClusterNodes) return { clusterNodes: config.redisClusterNodes, ...password }
  if (config.redisSentinels && config.redisSentinelName) {
    return { sentinels: config.redisSentinels, sentinelName: config.redisSentinelName, ...password }
  }
  return config.redisUrl ? { url: config.redisUrl } : undefined
}

/** Redis when configured; otherwise the in-process store, loudly (it is for local demos only). */
export function createStores(config: BffConfig, clock: Clock, logger: Logger): StoreSet {
  const target = redisTarget(config)
  if (target) {
    return createRedisStores({
      target,
      keyPrefix: config.redisKeyPrefix,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      waitReplicas: config.redisWaitReplicas,
    })
  }
  logger.warn(
    { event: 'store.memory' },
    'No Redis configured (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): using the in-process session store. Sessions are lost on restart and not shared between instances — for local development only.',
  )
  return createMemoryStores(clock)
}
