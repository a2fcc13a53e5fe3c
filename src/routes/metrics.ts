import { Hono } from 'hono'
import type { Registry } from 'prom-client'
import { BffError } from '../errors/bff-error.js'
import { renderJsonError } from '../errors/render.js'
import { safeEqual } from '../lib/random.js'

/**
 * GET /metrics in the Prometheus text format. With a token (on the public port) it needs
 * `Authorization: Bearer <token>`; without one it is meant for a separate, private port.
 */
export function metricsRoute(registry: Registry, token?: string): Hono {
  const app = new Hono()
  app.get('/metrics', async function metrics(c) {
    if (token !== undefined) {
      const presented = c.req.header('authorization')?.match(/^Bearer (.+)$/)?.[1]
      if (!presented || !safeEqual(presented, token)) {
        c.header('WWW-Authenticate', 'Bearer')
        return renderJsonError(
          c,
          new BffError('unauthenticated', { detail: 'metrics token missing or wrong' }),
        )
      }
    }
    c.header('Cache-Control', 'no-store')
    c.header('Content-Type', registry.contentType)
    return c.body(await registry.metrics())
  })
  return app
}
