import type { RedisClient } from '../store/redis-client.js'
import { assertIncrement, type RateCount, type RateLimitStore } from './store.js'

/*
 * INCRBY, and PEXPIRE on the first hit of a window (the count is the increment alone), in one
 * script so a crash between the two cannot leave a counter without a TTL (which would block its
 * key for ever); a counter found without one gets it here. One key: Cluster-safe.
 */
const HIT = `
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if n == tonumber(ARGV[2]) or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`

/** Rate-limit counters in the session store's Redis, so limits hold across instances. */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #redis: RedisClient
  readonly #prefix: string

  constructor(redis: RedisClient, keyPrefix: string) {
    this.#redis = redis
    this.#prefix = `${keyPrefix}rl:`
    if (!('bffRateHit' in redis)) redis.defineCommand('bffRateHit', { numberOfKeys: 1, lua: HIT })
  }

  async hit(key: string, windowMs: number, increment = 1): Promise<RateCount> {
    assertIncrement(increment)
    const run = (this.#redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)
      .bffRateHit as (...a: unknown[]) => Promise<[number, number]>
    const [count, resetMs] = await run.call(
      this.#redis,
      // The limiter's keys carry their own hash tag: one slot per counter.
      `${this.#prefix}${key}`,
      Math.ceil(windowMs),
      increment,
    )
    return { count, resetMs }
  }
}
