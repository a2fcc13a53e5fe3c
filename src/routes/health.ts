import { Hono } from 'hono'
import { RETRY_AFTER_SECONDS } from '../errors/codes.js'
import type { RouteDeps } from './deps.js'

/** GET /healthz (process alive) and GET /readyz (store reachable, discovery loaded). */
export function healthRoutes(deps: RouteDeps): Hono {
  const app = new Hono()
  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', async (c) => {
    c.header('Cache-Control', 'no-store')
    const [store, provider] = await Promise.all([
      deps.store.ping().then(
        () => 'ok',
        () => 'unavailable',
      ),
      deps.oidc.configuration().then(
        () => 'ok',
        () => 'unavailable',
      ),
    ])
    const ready = store === 'ok' && provider === 'ok'
    if (!ready) c.header('Retry-After', String(RETRY_AFTER_SECONDS))
    return c.json({ status: ready ? 'ready' : 'not_ready', store, provider }, ready ? 200 : 503)
  })
  return app
}
