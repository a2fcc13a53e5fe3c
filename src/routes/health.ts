import { Hono } from 'hono'
import { BffError } from '../errors/bff-error.js'
import { RETRY_AFTER_SECONDS } from '../errors/codes.js'
import type { RouteDeps } from './deps.js'

/**
 * GET /healthz (process alive) and GET /readyz (store reachable, discovery loaded, and the
 * provider accepting the client credentials, see OidcClient.checkClient).
 */
export function healthRoutes(deps: RouteDeps): Hono {
  const app = new Hono()
  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', async (c) => {
    c.header('Cache-Control', 'no-store')
    const [store, provider] = await Promise.all([
      deps.stores.ping().then(
        () => 'ok',
        () => 'unavailable',
      ),
      deps.oidc.configuration().then(
        () => 'ok',
        () => 'unavailable',
      ),
    ])
    // Checked once per process (a refusal again after a minute), not per probe.
    const client =
      provider !== 'ok' || !deps.config.checkClient
        ? 'unchecked'
        : await deps.oidc.checkClient().then(
            (result) => result,
            (error: unknown) =>
              error instanceof BffError && error.code === 'provider_rejected_client'
                ? 'rejected'
                : 'unchecked',
          )
    const ready = store === 'ok' && provider === 'ok' && client !== 'rejected'
    if (!ready) c.header('Retry-After', String(RETRY_AFTER_SECONDS))
    return c.json(
      { status: ready ? 'ready' : 'not_ready', store, provider, client },
      ready ? 200 : 503,
    )
  })
  return app
}
