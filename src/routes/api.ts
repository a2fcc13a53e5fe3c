import http from 'node:http'
import https from 'node:https'
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { Hono } from 'hono'
import { BffError } from '../errors/bff-error.js'
import { requireCsrfHeader } from '../middleware/csrf.js'
import { resolveSession } from '../middleware/require-session.js'
import { pageCsp, responseSecurityHeaders } from '../middleware/security-headers.js'
import { forward, forwardNode } from '../proxy/forward.js'
import { UpstreamTable } from '../proxy/upstreams.js'
import type { RouteDeps } from './deps.js'

const REFUSED_METHODS = new Set(['TRACE', 'CONNECT'])

/** ANY /api/** — CSRF check, route lookup, session, fresh token, forward. */
export function apiRoutes(deps: RouteDeps): { app: Hono; close(): void } {
  const app = new Hono()
  const table = new UpstreamTable(deps.config.apiRoutes)
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
  }
  const csp = pageCsp(deps.securityHeaders.formActionOrigins)
  const options = {
    timeoutMs: deps.config.upstreamTimeoutSeconds * 1000,
    csrfHeaderName: deps.config.csrfHeaderName,
    agents,
  }

  app.use('/api/*', async function proxyMetrics(c, next) {
    const startedAt = performance.now()
    await next()
    deps.metrics.proxied(
      table.routeOf(c.req.path),
      c.get('proxiedStatus') ?? c.res.status,
      (performance.now() - startedAt) / 1000,
    )
  })
  app.use(
    '/api/*',
    requireCsrfHeader({ publicOrigin: deps.publicOrigin, headerName: deps.config.csrfHeaderName }),
  )
  // Errors (BffError and anything else) go to the app's onError: JSON, cookie cleared on session_expired, logged.
  app.all('/api/*', async (c) => {
    if (REFUSED_METHODS.has(c.req.method)) throw new BffError('method_not_allowed')
    const url = new URL(c.req.url)
    const match = table.resolve(url.pathname, url.search)
    if (!match) throw new BffError('not_found', { detail: 'no upstream for this prefix' })
    const session = await resolveSession(c, deps)
    await deps.apiRateLimit?.check(session.key)
    const tokens = await deps.tokens.fresh(session)
    const node = c.env as Partial<HttpBindings> | undefined
    if (node?.incoming && node.outgoing) {
      const status = await forwardNode(
        node.incoming,
        node.outgoing,
        match.target,
        tokens.accessToken,
        options,
        (type) => ({
          ...responseSecurityHeaders(deps.securityHeaders, type, csp),
          'X-Request-Id': c.get('requestId'),
        }),
        c.get('streamingBodyLimit'),
        c.get('requestId'),
      )
      c.set('proxiedStatus', status)
      return RESPONSE_ALREADY_SENT
    }
    return await forward(c.req.raw, match.target, tokens.accessToken, options, c.get('requestId'))
  })
  return {
    app,
    close() {
      agents.http.destroy()
      agents.https.destroy()
    },
  }
}
