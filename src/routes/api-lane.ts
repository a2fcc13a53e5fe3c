import type { IncomingMessage, ServerResponse } from 'node:http'
import { toBffError } from '../errors/bff-error.js'
import { errorHeaders, jsonErrorBody } from '../errors/render.js'
import { reportRequestError } from '../errors/report.js'
import { correlationId } from '../lib/random.js'
import { apiCsrfRefusal, type HeaderReader } from '../middleware/csrf.js'
import { forwardNode } from '../proxy/forward.js'
import type { UpstreamMatch } from '../proxy/upstreams.js'
import type { ApiProxy } from './api.js'
import type { RouteDeps } from './deps.js'

/**
 * A request target a URL parser leaves as it is: a path under /api/ of unreserved and
 * sub-delimiter characters (no percent escapes, no characters the parser would encode or
 * rewrite) and a query of the same plus `%`, `/` and `?`.
 */
const PLAIN_TARGET =
  /^\/api\/[A-Za-z0-9\-._~!$&()*+,;=:@/]*(?:\?[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*)?$/
/** A `.` or `..` segment, which a URL parser removes. */
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)/
/** A request target under /api/ that a URL parser would give back unchanged (path and query). */
export function isPlainApiTarget(target: string): boolean {
  return PLAIN_TARGET.test(target) && !DOT_SEGMENT.test(target)
}

/** A Host @hono/node-server takes as it is (anything else it validates, or refuses with 400). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/

/**
 * The warm /api request, served from node's request listener without Hono.
 *
 * The Hono route in api.ts is the one implementation of /api. This lane takes only requests
 * that every one of that route's checks would let through without I/O, decided with the same
 * functions and with no side effect until the last step, and returns false for everything
 * else, which then goes, untouched, to the route: it checks again from scratch and gives any
 * refusal. So the lane can only be stricter than the route, never looser. It takes:
 * - GET without a body (no Content-Length, no Transfer-Encoding): no body limit to enforce;
 * - a target the URL parser would not rewrite (PLAIN_TARGET, no dot segment), so the route
 *   table sees exactly what the route's `new URL()` would give it, and a plain Host;
 * - no incoming X-Request-Id (whether to trust one is the route's decision);
 * - the CSRF rule met (apiCsrfRefusal);
 * - a route in the table whose remainder passes its checks;
 * - a session cookie this process unsealed before, naming a session its cache may serve
 *   (not due for renewal or expiry), with an access token that needs no refresh;
 * - and last, the only steps that change anything: a free slot among the session's
 *   requests in progress (the route's InFlightLimit), and the request counted locally under
 *   half the session's rate limit (BatchedRateLimiter.countLocally); the slot goes back if
 *   the count refuses.
 * Then it forwards with the route's own forwardNode, headers and metrics. An upstream failure
 * gets the same JSON error, headers and log line as the route's onError would give it.
 */
export function createApiLane(
  deps: RouteDeps,
  proxy: ApiProxy,
): (incoming: IncomingMessage, outgoing: ServerResponse) => boolean {
  const limiter = deps.apiRateLimit
  const countLocally = limiter
    ? limiter.countLocally
      ? (key: string) => limiter.countLocally?.(key) === true
      : () => false
    : () => true

  const match = (target: string): UpstreamMatch | null => {
    const query = target.indexOf('?')
    const path = query === -1 ? target : target.slice(0, query)
    const search = query === -1 ? '' : target.slice(query)
    try {
      return proxy.table.resolve(path, search)
    } catch {
      return null
    }
  }

  return function apiLane(incoming, outgoing) {
    const startedAt = performance.now()
    const target = incoming.url ?? ''
    const headers = incoming.headers
    if (
      incoming.method !== 'GET' ||
      headers['content-length'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      headers['x-request-id'] !== undefined ||
      !isPlainApiTarget(target) ||
      !PLAIN_HOST.test(headers.host ?? '')
    ) {
      return false
    }
    const header: HeaderReader = (name) => {
      const value = headers[name]
      return Array.isArray(value) ? value.join(', ') : value
    }
    if (apiCsrfRefusal(header, proxy.csrf) !== undefined) return false
    const route = match(target)
    if (!route) return false
    const raw = deps.cookie.rawFromHeader(headers.cookie)
    const known = raw === undefined ? undefined : deps.cookie.unsealedBefore(raw)
    const session = known === undefined ? undefined : deps.sessions.servable(known.key)
    if (!session) return false
    const tokens = deps.tokens.freshNow(session)
    if (!tokens) return false
    const release = proxy.inFlight.acquire(session.key)
    if (!release) return false
    if (!countLocally(session.key)) {
      release()
      return false
    }
    outgoing.once('close', release)

    deps.metrics.sessionCacheLookup('hit')
    deps.metrics.proxyLane.inc()
    const requestId = correlationId()
    const done = (status: number) =>
      deps.metrics.proxied(route.route.prefix, status, (performance.now() - startedAt) / 1000)
    forwardNode(
      { incoming, outgoing },
      { match: route, accessToken: tokens.accessToken, requestId },
      proxy.forward,
    ).then(done, (error: unknown) => {
      const err = toBffError(error)
      reportRequestError(deps.logger, error, requestId)
      if (outgoing.headersSent) {
        outgoing.destroy()
      } else {
        const body = JSON.stringify(jsonErrorBody(err, requestId))
        outgoing.writeHead(err.status, {
          ...proxy.forward.responseHeaders('application/json'),
          ...errorHeaders(err),
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-request-id': requestId,
        })
        outgoing.end(body)
      }
      done(err.status)
    })
    return true
  }
}
