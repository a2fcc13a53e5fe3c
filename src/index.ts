export { type Bff, type BffDeps, createBff } from './app.js'
export { ConfigError } from './config/config-error.js'
export { loadConfigFromEnv } from './config/load-env.js'
export type { BffConfig, BffOptions } from './config/schema.js'
export type { ServerLimits, ServerLimitsOptions } from './config/server-limits.js'
export { BffError } from './errors/bff-error.js'
export { type ErrorCode, errorCodes } from './errors/codes.js'
export { createLimitedServer, type LimitedServerOptions } from './http/limited-server.js'
export type { BffRequestSession } from './middleware/context.js'
export { CLOSE_CODES } from './proxy/websocket-frames.js'
export type { RateLimitStore } from './rate-limit/store.js'
export type { UpgradeListener } from './routes/api-upgrade.js'
export type {
  LockStore,
  ReplayCache,
  SessionChangeFeed,
  SessionIndexStore,
  SessionRecordStore,
  SharedTokenStore,
  StoreSet,
  TransactionStore,
} from './store/interfaces.js'
export { MemorySessionStore } from './store/memory-session-store.js'
export { createMemoryStores, type MemoryStoreSet } from './store/memory-stores.js'
export { RedisSessionStore } from './store/redis-session-store.js'
export { createRedisStores, type RedisStoreSet } from './store/redis-stores.js'
export type { SessionStore } from './store/session-store.js'
