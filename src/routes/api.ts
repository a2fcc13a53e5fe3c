import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { Hono } from 'hono'
import { Agent } from 'undici'
import { BffError } from '../errors/bff-error.js'
import { type CsrfOptions, requireCsrfHeader } from '../middleware/csrf.js'
import { resolveSession } from '../middleware/require-session.js'
import { pageCsp, responseSecurityHeaders } from '../middleware/security-headers.js'
import { type ForwardOptions, forward, forwardNode } from '../proxy/forward.js'
import { InFlightLimit, type Release } from '../proxy/in-flight.js'
import { UpstreamTable } from '../proxy/upstreams.js'
import { createApiLane } from './api-lane.js'
import type { RouteDeps } from './deps.js'

const REFUSED_METHODS = new Set(['TRACE', 'CONNECT'])

/** What the /api route and its node-level lane share: one table, one pool, one set of headers. */
export interface ApiProxy {
  table: UpstreamTable
  forward: ForwardOptions & {
    /** The broker's headers on a proxied answer of this content type (lower-case names). */
    responseHeaders(contentType: string | undefined): Record<string, string>
  }
  csrf: CsrfOptions
  inFlight: InFlightLimit
}

/**
 * A slot among the session's requests in progress, handed back when the answer is done
 * (sent, failed or abandoned: node's 'close'), or 429 too_many_in_flight.
 */
export function takeInFlightSlot(
  inFlight: InFlightLimit,
  key: string,
  outgoing: ServerResponse | undefined,
): Release {
  const release = inFlight.acquire(key)
  if (!release) {
    throw new BffError('too_many_in_flight', {
      detail: `${inFlight.max} requests of this session in progress`,
      retryAfterSeconds: 1,
    })
  }
  outgoing?.once('close', release)
  return release
}

export interface ApiRoutes {
  app: Hono
  /**
   * Serves a warm /api request without Hono and returns true, or returns false having done
   * nothing (see api-lane.ts). Only for a node server whose other requests go to `app`.
   */
  lane(incoming: IncomingMessage, outgoing: ServerResponse): boolean
  close(): Promise<void>
}

/** ANY /api/** — CSRF check, route lookup, session, fresh token, forward. */
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
      dispatcher,
      responseHeaders: (type) => (type?.startsWith('text/html') ? htmlHeaders : plainHeaders),
    },
    csrf: { publicOrigin: deps.publicOrigin, headerName: deps.config.csrfHeaderName },
    inFlight: new InFlightLimit(deps.config.apiMaxInFlightPerSession),
  }
  const { table } = proxy

  app.use('/api/*', async function proxyMetrics(c, next) {
    const startedAt = performance.now()
    await next()
    deps.metrics.proxied(
      table.routeOf(c.req.path),
      c.get('proxiedStatus') ?? c.res.status,
      (performance.now() - startedAt) / 1000,
    )
  })
  app.use('/api/*', requireCsrfHeader(proxy.csrf))
  // Errors (BffError and anything else) go to the app's onError: JSON, cookie cleared on session_expired, logged.
  app.all('/api/*', async (c) => {
    if (REFUSED_METHODS.has(c.req.method)) throw new BffError('method_not_allowed')
    const url = new URL(c.req.url)
    const match = table.resolve(url.pathname, url.search)
    if (!match) throw new BffError('not_found', { detail: 'no upstream for this prefix' })
    // Each step answers synchronously on the hot path (warm session, counted locally, fresh
    // token); awaiting only what is really pending saves a promise round per step.
    const resolved = resolveSession(c, deps)
    const session = resolved instanceof Promise ? await resolved : resolved
    const node = c.env as Partial<HttpBindings> | undefined
    const release = takeInFlightSlot(proxy.inFlight, session.key, node?.outgoing)
    try {
      const limited = deps.apiRateLimit?.check(session.key)
      if (limited) await limited
      const fresh = deps.tokens.fresh(session)
      const tokens = fresh instanceof Promise ? await fresh : fresh
      const request = { match, accessToken: tokens.accessToken, requestId: c.get('requestId') }
      // HEAD takes the portable path: Hono answers HEAD by dispatching GET and wrapping the
      // result in a bodiless Response, which @hono/node-server would write a second time.
      if (node?.incoming && node.outgoing && node.incoming.method !== 'HEAD') {
        const { incoming, outgoing } = node
        c.set('proxiedStatus', await forwardNode({ incoming, outgoing }, request, proxy.forward))
        return RESPONSE_ALREADY_SENT
      }
      // Under node, 'close' hands the slot back; elsewhere, the end of the answer's body.
      return await forward(c.req.raw, request, proxy.forward, release)
    } catch (error) {
      release()
      throw error
    }
  })
  return {
    app,
    lane: createApiLane(deps, proxy),
    async close() {
      await dispatcher.destroy()
    },
  }
}
