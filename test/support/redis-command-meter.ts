import { fileURLToPath } from 'node:url'
import { startChildService } from './child-service.js'

export interface RedisCommandStats {
  commands: number
  /** Commands sent whose reply had not come back yet, at most, over every connection. */
  peakInFlight: number
  inFlight: number
}

export interface RedisCommandMeter {
  /** Point a client here instead of at Redis. */
  url: string
  stats(): Promise<RedisCommandStats>
  stop(): Promise<void>
}

const MAIN = fileURLToPath(new URL('./redis-command-meter-main.ts', import.meta.url))

/** A RESP-counting proxy in front of `redisUrl`, in a child process (redis-command-meter-main.ts). */
export async function startRedisCommandMeter(
  redisUrl: string,
  options: { latencyMs?: number } = {},
): Promise<RedisCommandMeter> {
  const child = await startChildService<{ port: number; statsPort: number }>(MAIN, {
    REDIS_URL: redisUrl,
    REDIS_LATENCY_MS: String(options.latencyMs ?? 0),
  })
  return {
    url: `redis://127.0.0.1:${child.ready.port}`,
    async stats() {
      const response = await fetch(`http://127.0.0.1:${child.ready.statsPort}/stats`)
      return (await response.json()) as RedisCommandStats
    },
    stop: () => child.stop(),
  }
}
