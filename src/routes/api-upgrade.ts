import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { context } from '@opentelemetry/api'
import type { Admission, Admitted, ApiRequest } from '../api/admission.js'
import { BffError, toBffError } from '../errors/bff-error.js'
import { errorHeaders, jsonErrorBody } from '../errors/render.js'
import { reportRequestError } from '../errors/report.js'
import { endWithResponse, isSafeHeaderValue, responseHead } from '../http/raw-response.js'
import { correlationId } from '../lib/random.js'
import type { HeaderReader } from '../middleware/csrf.js'
import {
  endClientSpan,
  endRequestSpan,
  startRequestSpan,
  tracingOn,
} from '../observability/tracing.js'
import { Cancellation, upstreamDeadline } from '../proxy/exchange.js'
import { type ProxiedRequest, sendAuthorized, upstreamHeaders } from '../proxy/forward.js'
import { WEBSOCKET_REQUEST_HEADERS, WEBSOCKET_RESPONSE_HEADERS } from '../proxy/headers.js'
import { endAnswered, upstreamSpan } from '../proxy/upstream-span.js'
import { type Upgraded, upgradeUpstream } from '../proxy/upstream-upgrade.js'
import { UNMATCHED } from '../proxy/upstreams.js'
import { WebSocketTunnel } from '../proxy/websocket-tunnel.js'
import type { LiveExchanges } from '../session/live-exchanges.js'
import type { ApiProxy } from './api-proxy.js'
import type { RouteDeps } from './deps.js'

/** Node's 'upgrade' event listener: `server.on('upgrade', bff.upgradeListener())`. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** RFC 6455 §4.1: a base64-encoded 16-byte nonce. */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/

/** Why this Upgrade request is not a WebSocket handshake the broker serves, or undefined. */
function malformedHandshake(req: IncomingMessage): string | undefined {
  const { headers } = req
  if (headers.upgrade?.toLowerCase() !== 'websocket') return 'only websocket upgrades are served'
  if (!WEBSOCKET_KEY.test(headers['sec-websocket-key'] ?? '')) return 'bad sec-websocket-key'
  if (headers['sec-websocket-version'] !== '13') return 'unsupported sec-websocket-version'
  // A handshake has no body: bytes after it are frames, and none may be smuggled in as a body.
  if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) {
    return 'handshake with a body'
  }
  return undefined
}

/**
 * WebSocket through /api: Node emits 'upgrade' (not 'request') for a request with
 * `Connection: Upgrade`, so this listener sits beside the request listener. The handshake is
 * admitted by the /api steps (api/steps.ts) marked as a WebSocket: the Origin must be the
 * public origin (the browser cannot send the CSRF header here), GET only, on a route with
 * `websocket` on, a session and a fresh token as for any call. Then the upstream gets its own
 * handshake with only allow-listed headers and the bearer (never the browser's cookies or
 * Origin), its 101 is relayed with only the WebSocket headers, and bytes pass both ways
 * (WebSocketTunnel). The socket holds one of the session's in-flight slots while open, and is
 * closed with 4401 when its session ends on any instance (LiveExchanges). Any refusal is a
 * plain HTTP answer (status, JSON error, `Connection: close`) before anything is upgraded.
 */
export function createApiUpgrade(
  deps: RouteDeps,
  proxy: ApiProxy,
  admission: Admission,
  live: LiveExchanges,
): UpgradeListener {
  const publicHost = new URL(deps.publicOrigin).host
  return function apiUpgrade(req, socket, head) {
    socket.on('error', () => socket.destroy())
    const startedAt = performance.now()
    const requestId = correlationId()
    let route = UNMATCHED
    let clearCookie = false
    const target = req.url ?? ''
    const traced = tracingOn()
      ? startRequestSpan({
          method: req.method ?? 'GET',
          path: target.split('?', 1)[0] ?? '',
          headers: req.headers,
        })
      : undefined
    const done = (status: number, error?: string) => {
      deps.metrics.proxied(route, status, (performance.now() - startedAt) / 1000)
      if (traced) {
        const template = route === UNMATCHED ? undefined : `${route}/*`
        endRequestSpan(traced, { route: template, status, error, requestId })
      }
    }
    const refuse = (error: unknown) => {
      const err = toBffError(error)
      reportRequestError(deps.logger, error, requestId)
      const headers: Record<string, string> = {
        ...proxy.forward.responseHeaders('application/json'),
        ...errorHeaders(err),
        'content-type': 'application/json',
        'x-request-id': requestId,
      }
      if (clearCookie || err.code === 'session_expired') {
        headers['set-cookie'] = deps.cookie.clearingHeader()
      }
      endWithResponse(socket, err.status, headers, JSON.stringify(jsonErrorBody(err, requestId)))
      done(err.status, err.code)
    }

    const malformed = malformedHandshake(req)
    // Read as the Hono route reads a request target (its URL parser, dot segments resolved).
    const href = `http://${publicHost}${target}`
    if (malformed || !target.startsWith('/') || !URL.canParse(href)) {
      return refuse(new BffError('invalid_request', { detail: malformed ?? 'not a path' }))
    }
    const url = new URL(href)
    if (!url.pathname.startsWith('/api/')) {
      return refuse(new BffError('not_found', { detail: 'websocket outside /api' }))
    }
    route = proxy.table.routeOf(url.pathname)
    const header: HeaderReader = (name) => {
      const value = req.headers[name]
      return Array.isArray(value) ? value.join(', ') : value
    }
    const request: ApiRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      search: url.search,
      header,
      cookie: deps.cookie.rawFromHeader(req.headers.cookie),
      webSocket: true,
    }
    const changesBefore = live.changes
    let admitted: Admitted | undefined
    const handshake = async () => {
      const pending = admission.admit(request, {
        clearCookie: () => {
          clearCookie = true
        },
      })
      admitted = pending instanceof Promise ? await pending : pending
      const upstream = await openUpstream(req, socket, admitted, {
        requestId,
        deadline: upstreamDeadline(admitted.match.route.timeoutMs, proxy.forward),
      })
      if (!upstream) return admitted.release()
      relay(socket, head, upstream, admitted, { requestId, live, changesBefore })
      done(101)
    }
    const handshaken = traced ? context.with(traced.context, handshake) : handshake()
    handshaken.catch((error: unknown) => {
      admitted?.release()
      refuse(error)
    })
  }
}

/** The upstream's handshake, or undefined (nothing left open) when the browser left first. */
async function openUpstream(
  req: IncomingMessage,
  socket: Duplex,
  { match, tokens, dpop }: Admitted,
  { requestId, deadline }: { requestId: string; deadline: number },
): Promise<Upgraded | undefined> {
  if (socket.destroyed) return undefined
  const span = upstreamSpan(match, 'GET')
  const proxied: ProxiedRequest = {
    match,
    accessToken: tokens?.accessToken,
    dpop,
    requestId,
    ...(span && { traced: { span, context: context.active() } }),
  }
  const allowed = [...match.route.forwardHeaders, ...WEBSOCKET_REQUEST_HEADERS]
  const headers = upstreamHeaders(req.headers, 'GET', proxied, allowed)
  const signal = new Cancellation()
  const onClose = () => signal.cancel('client')
  socket.once('close', onClose)
  try {
    // A DPoP-bound token: a handshake refused for want of a nonce is sent again with one.
    const upgraded = await sendAuthorized(proxied, 'GET', headers, null, (retryIf) =>
      upgradeUpstream({ target: match.target, headers, deadline, signal, retryIf }),
    )
    if (span) endAnswered(span, 101)
    if (!socket.destroyed) return upgraded
    upgraded.socket.destroy()
    return undefined
  } catch (error) {
    if (span)
      endClientSpan(span, signal.why === 'client' ? 'client_closed' : toBffError(error).code)
    if (signal.why === 'client') return undefined
    throw error
  } finally {
    socket.off('close', onClose)
  }
}

/** The upstream's 101 to the browser, then the tunnel, held for the session. */
function relay(
  socket: Duplex,
  browserHead: Buffer,
  upstream: Upgraded,
  admitted: Admitted,
  context: { requestId: string; live: LiveExchanges; changesBefore: number },
): void {
  const headers: Record<string, string> = { upgrade: 'websocket', connection: 'Upgrade' }
  for (const name of WEBSOCKET_RESPONSE_HEADERS) {
    const value = upstream.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  headers['x-request-id'] = context.requestId
  if (!Object.values(headers).every(isSafeHeaderValue)) {
    upstream.socket.destroy()
    throw new BffError('upstream_unavailable', { detail: 'unsafe 101 header from the upstream' })
  }
  let unhold: () => void = () => {}
  const tunnel = new WebSocketTunnel(socket, upstream.socket, () => {
    unhold()
    admitted.release()
  })
  socket.write(responseHead(101, headers))
  tunnel.start(browserHead, upstream.head)
  unhold = admitted.session
    ? context.live.hold(admitted.session, tunnel, context.changesBefore)
    : context.live.holdUnowned(tunnel)
}
