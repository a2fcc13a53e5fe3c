import type { IncomingMessage, ServerResponse } from 'node:http'
import { context } from '@opentelemetry/api'
import type { Admission } from '../api/admission.js'
import { toBffError } from '../errors/bff-error.js'
import { errorHeaders, jsonErrorBody } from '../errors/render.js'
import { reportRequestError } from '../errors/report.js'
import { correlationId } from '../lib/random.js'
import type { HeaderReader } from '../middleware/csrf.js'
import { endRequestSpan, startRequestSpan, tracingOn } from '../observability/tracing.js'
import { forwardNode } from '../proxy/forward.js'
import { type ApiProxy, holdUntilAnswered } from './api-proxy.js'
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
 * The /api policy is written once, as the steps of api/steps.ts; the Hono route in api.ts
 * runs them with I/O where needed (Admission.admit), this lane runs the same steps without
 * any (Admission.admitWithoutIo: every check, then the steps that take something — a slot
 * among the session's requests in progress, a local rate count) and returns false, having
 * taken nothing, the moment one would need I/O or refuses. The request then goes, untouched,
 * to the route, which runs every step again from scratch and gives any refusal. So the lane
 * can only be stricter than the route, never looser. What the lane decides itself is only
 * whether it can read the request exactly as the route would:
 * - GET without a body (no Content-Length, no Transfer-Encoding): no body to read;
 * - a target the URL parser would not rewrite (PLAIN_TARGET, no dot segment), so the steps
 *   see exactly what the route's `new URL()` would give them, and a plain Host;
 * - no incoming X-Request-Id (whether to trust one is the request-id middleware's decision).
 * Then it forwards with the route's own forwardNode, headers and metrics. An upstream failure
 * gets the same JSON error, headers and log line as the route's onError would give it.
 */
export function createApiLane(
  deps: RouteDeps,
  proxy: ApiProxy,
  admission: Admission,
): (incoming: IncomingMessage, outgoing: ServerResponse) => boolean {
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
    const query = target.indexOf('?')
    const changesBefore = deps.live.changes
    const path = query === -1 ? target : target.slice(0, query)
    const admitted = admission.admitWithoutIo({
      method: 'GET',
      path,
      search: query === -1 ? '' : target.slice(query),
      header,
      cookie: deps.cookie.rawFromHeader(headers.cookie),
    })
    if (!admitted) return false
    const { match, session, tokens, dpop, release } = admitted
    holdUntilAnswered(release, outgoing)

    deps.metrics.laneServed()
    const requestId = correlationId()
    const traced = tracingOn() ? startRequestSpan({ method: 'GET', path, headers }) : undefined
    const done = (status: number, error?: string) => {
      deps.metrics.proxied(match.route.prefix, status, (performance.now() - startedAt) / 1000)
      if (traced) {
        endRequestSpan(traced, { route: `${match.route.prefix}/*`, status, error, requestId })
      }
    }
    const exchange = {
      incoming,
      outgoing,
      request: { match, accessToken: tokens?.accessToken, dpop, requestId, session, changesBefore },
      options: proxy.forward,
    }
    const sent = traced
      ? context.with(traced.context, forwardNode, undefined, exchange)
      : forwardNode(exchange)
    sent.then(done, (error: unknown) => {
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
      done(err.status, err.code)
    })
    return true
  }
}
