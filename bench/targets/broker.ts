/**
 * (b) The broker's hot path: createBff with a Redis session store and one API route,
 * `/api/bench` → the upstream. The session is established by the orchestrator (a real
 * login through the provider) before the load starts.
 */
import { randomBytes } from 'node:crypto'
import { serve } from '@hono/node-server'
import { createBff } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
import { announceReady, fail, onShutdown, settings } from '../lib/child.js'

export interface BrokerTargetSettings {
  port: number
  issuer: string
  clientId: string
  clientSecret: string
  redisUrl: string
  keyPrefix: string
  cookieSecret: string
  upstreamUrl: string
}

const s = settings<BrokerTargetSettings>()

async function main() {
  const bff = createBff(
    {
      publicUrl: `http://127.0.0.1:${s.port}`,
      issuer: s.issuer,
      clientId: s.clientId,
      clientSecret: s.clientSecret,
      // The bench provider is a local oidc-provider on plain http, as in the tests.
      dangerouslyAllowHttpIssuer: true,
      cookieSecrets: [{ id: 1, secret: s.cookieSecret }],
      apiRoutes: [{ prefix: '/api/bench', upstream: s.upstreamUrl }],
      // Production settings on the hot path: tokens encrypted at rest, the session cache on
      // (the default), and the per-session rate limit on (counted in batches; set high so the
      // load never trips it).
      tokenEncryptionKeys: [{ id: 1, key: randomBytes(32).toString('base64') }],
      rateLimitApi: { limit: 100_000_000, windowSeconds: 60 },
    },
    {
      // Warnings (a failed proxy call, say) go to stderr; stdout carries the ready line.
      logger: createLogger('warn', process.stderr),
      store: new RedisSessionStore({ url: s.redisUrl, keyPrefix: s.keyPrefix }),
    },
  )
  await bff.ready()
  const server = serve({ fetch: bff.app.fetch, port: s.port, hostname: '127.0.0.1' }, () =>
    announceReady({ port: s.port }),
  )
  server.on('error', fail)
  onShutdown(async () => {
    await new Promise<void>((resolve) => {
      ;(server as import('node:http').Server).closeAllConnections?.()
      server.close(() => resolve())
    })
    await bff.close()
  })
}

main().catch(fail)
