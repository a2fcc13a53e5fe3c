import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import type { Clock } from '../lib/clock.js'
import { MemorySessionStore } from './memory-store.js'
import { RedisSessionStore } from './redis-store.js'
import type { SessionStore } from './store.js'

/** Redis when configured; otherwise the in-process store, loudly (it is for local demos only). */
export function createStore(config: BffConfig, clock: Clock, logger: Logger): SessionStore {
  if (config.redisUrl) {
    return new RedisSessionStore({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix })
  }
  logger.warn(
    { event: 'store.memory' },
    'REDIS_URL is not set: using the in-process session store. Sessions are lost on restart and not shared between instances — for local development only.',
  )
  return new MemorySessionStore(clock)
}
