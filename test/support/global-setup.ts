import type { TestProject } from 'vitest/node'
import { startRedis } from './redis.js'
import { ensureRedisServer } from './system-packages.js'

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
  }
}

/** One redis-server for the whole run; each test file uses its own key prefix. */
export async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  ensureRedisServer()
  const redis = await startRedis()
  provide('redisUrl', redis.url)
  return () => redis.stop()
}
