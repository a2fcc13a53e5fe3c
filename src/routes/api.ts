import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { Hono } from 'hono'
import { Agent } from 'undici'
import { Admission } from '../api/admission.js'
import { apiSteps } from '../api/steps.js'
import { contextHeaders } from '../middleware/csrf.js'
import { pageCsp, responseSecurityHeaders } from '../middleware/security-headers.js'
import { BodyBudget } from '../proxy/body-budget.js'
import { forward, forwardNode } from '../proxy/forward.js'
import { InFlightLimit } from '../proxy/in-flight.js'
import { UNMATCHED, UpstreamTable } from '../proxy/upstreams.js'
import { createApiLane } from './api-lane.js'
import { type ApiProxy, holdUntilAnswered } from './api-proxy.js'
import { createApiUpgrade, type UpgradeListener } from './api-upgrade.js'
import type { RouteDeps } from './deps.js'

export interface ApiRoutes {
  app: Hono
  /**
   * Serves a warm /api request without Hono and returns true, or returns false having done
   * nothing (see api-lane.ts). Only for a node server whose other requests go to `app`.
   */
  lane(incoming: IncomingMessage, outgoing: ServerResponse): boolean
  /** WebSocket handshakes under /api (see api-upgrade.ts): Node's 'upgrade' listener. */
  upgrade: UpgradeListener
  close(): Promise<void>
}

/**
 * ANY /api/** — admitted by the steps of api/steps.ts, then forwarded. A streamed answer of a
 * session is ended when the session ends (ForwardOptions.live).
 */
export function apiRoutes(deps: RouteDeps): ApiRoutes {
  const app = new Hono()
  const csp = pageCsp(deps.securityHeaders.formActionOrigins)
  // The broker's headers on proxied answers, built once; lower-case so they replace an
  // upstream's header of the same name rather than travel beside it.
  const lowerCased = (headers: Record<string, string>) =>
    Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]))
  const plainHeaders = lowerCased(responseSecurityHeaders(deps.securityHeaders, undefined, csp))
  const htmlHeaders = lowerCased(responseSecurityHeaders(deps.securityHeaders, 'text/html', csp))
  // Kept-alive connections to each upstream origin (TLS verified, as Node's defaults).
  const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 4000 })
  const proxy: ApiProxy = {
    table: new UpstreamTable(deps.config.apiRoutes),
    forward: {
      timeoutMs: deps.config.upstreamTimeoutSeconds * 1000,
      maxBodyBytes: deps.config.maxBodyBytes,
      bodyTimeoutMs: deps.config.requestBodyTimeoutSeconds * 1000,
      stallTimeoutMs: deps.config.responseStallTimeoutSeconds * 1000,
      bodyBudget: new BodyBudget(deps.config.maxBufferedBodyBytes),
      dispatcher,
      responseHeaders: (type) => (type?.startsWith('text/html') ? htmlHeaders : plainHeaders),
      live: deps.live,
      circuit: deps.circuits.upstream,
    },
    csrf: { publicOrigin: deps.publicOrigin, headerName: deps.config.csrfHeaderName },
    inFlight: new InFlightLimit(deps.config.apiMaxInFlightPerSession),
  }
  const { table } = proxy
  const admission = new Admission(
    apiSteps({
      ...deps,
      ...proxy,
      rateLimit: deps.apiRateLimit,
      grantedScopes: deps.config.scopes,
      dpopKeys: deps.oidc.dpopKeys,
    }),
    (state) => {
      if (state.sessionFromMemory) deps.sessions.countCacheHit()
    },
  )

  app.use('/api/*', async function proxyMetrics(c, next) {
    const startedAt = performance.now()
    await next()
    const route = table.routeOf(c.req.path)
    if (route !== UNMATCHED) c.set('apiPrefix', route)
    deps.metrics.proxied(
      route,
      c.get('proxiedStatus') ?? c.res.status,
      (performance.now() - startedAt) / 1000,
    )
  })
  // Errors (BffError and anything else) go to the app's onError: JSON, cookie cleared on session_expired, logged.
  app.all('/api/*', async function api(c) {
    const url = new URL(c.req.url)
    const request = {
      method: c.req.method,
      path: url.pathname,
      search: url.search,
      header: contextHeaders(c),
      cookie: deps.cookie.raw(c),
    }
    const changesBefore = deps.live.changes
    // Synchronous on the hot path (warm session, counted locally, fresh token): awaiting
    // only what is really pending saves a promise round.
    const pending = admission.admit(request, { clearCookie: () => deps.cookie.clear(c) })
    const { match, session, tokens, dpop, release } =
      pending instanceof Promise ? await pending : pending
    const node = c.env as Partial<HttpBindings> | undefined
    holdUntilAnswered(release, node?.outgoing)
    try {
      const proxied = {
        match,
        accessToken: tokens?.accessToken,
        dpop,
        requestId: c.get('requestId'),
        session,
        changesBefore,
      }
      // HEAD takes the portable path: Hono answers HEAD by dispatching GET and wrapping the
      // result in a bodiless Response, which @hono/node-server would write a second time.
      if (node?.incoming && node.outgoing && node.incoming.method !== 'HEAD') {
        const { incoming, outgoing } = node
        const exchange = { incoming, outgoing, request: proxied, options: proxy.forward }
        c.set('proxiedStatus', await forwardNode(exchange))
        return RESPONSE_ALREADY_SENT
      }
      // Under node, 'close' hands the slot back; elsewhere, the end of the answer's body.
      return await forward(c.req.raw, proxied, proxy.forward, release)
    } catch (error) {
      release()
      throw error
    }
  })
  return {
    app,
    lane: createApiLane(deps, proxy, admission),
    upgrade: createApiUpgrade(deps, proxy, admission, deps.live),
    async close() {
      await dispatcher.destroy()
    },
  }
}
