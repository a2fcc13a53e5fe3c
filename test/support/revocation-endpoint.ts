import { fileURLToPath } from 'node:url'
import { startChildService } from './child-service.js'

export interface RevocationStats {
  total: number
  /** Most revocations the endpoint was answering at one moment. */
  peak: number
  inFlight: number
}

export interface RevocationEndpoint {
  /** The URL to publish as `revocation_endpoint`. */
  url: string
  stats(): Promise<RevocationStats>
  /** Every token revoked since the last reset, in the order the answers went out. */
  tokens(): Promise<string[]>
  reset(): Promise<void>
  stop(): Promise<void>
}

const MAIN = fileURLToPath(new URL('./revocation-endpoint-main.ts', import.meta.url))

/**
 * A counting RFC 7009 endpoint in a child process (see revocation-endpoint-main.ts): real
 * HTTP, and none of its work on the test's (the broker's) event loop.
 */
export async function startRevocationEndpoint(
  options: { delayMs?: number } = {},
): Promise<RevocationEndpoint> {
  const child = await startChildService<{ port: number }>(MAIN, {
    REVOCATION_DELAY_MS: String(options.delayMs ?? 0),
  })
  const base = `http://127.0.0.1:${child.ready.port}`
  return {
    url: `${base}/revoke`,
    async stats() {
      return (await (await fetch(`${base}/stats`)).json()) as RevocationStats
    },
    async tokens() {
      return (await (await fetch(`${base}/tokens`)).json()) as string[]
    },
    async reset() {
      await fetch(`${base}/reset`, { method: 'POST' })
    },
    stop: () => child.stop(),
  }
}
