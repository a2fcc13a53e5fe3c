import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Span } from '@opentelemetry/api'
import { propagateTo } from '../observability/tracing.js'

/** Request headers as the upstream client takes them. */
export type UpstreamHeaders = Record<string, string | string[]>

/** RFC 9110 §7.6.1: hop-by-hop fields, never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/**
 * Request headers every upstream gets from the browser's request: content negotiation,
 * conditionals, ranges, cache directives, the body's description, the user agent, W3C trace
 * context (traceparent, tracestate: the broker's own replace them while tracing is on, see
 * upstreamRequestHeaders) and two harmless request modifiers (`Prefer`, RFC 7240;
 * `Idempotency-Key`). Everything else is dropped: upstreams behind auth proxies trust
 * identity and override headers (`X-Remote-User`, `X-Original-URL`,
 * `X-HTTP-Method-Override`, client-IP headers), and the broker must never be the way to send
 * them. A route may add names of its own (`forwardHeaders`). The broker itself sets
 * `Authorization`, `X-Request-Id` and `Content-Length`.
 */
export const FORWARDED_REQUEST_HEADERS: readonly string[] = [
  'accept',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'pragma',
  'content-type',
  'content-encoding',
  'content-language',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'range',
  'user-agent',
  'traceparent',
  'tracestate',
  'prefer',
  'idempotency-key',
]

/**
 * A WebSocket handshake's own request headers (RFC 6455 §4.1), forwarded on a handshake only;
 * the broker sets `Upgrade` and `Connection` itself. Not `Origin`: the broker checked it, and
 * the upstream sees the broker as its client.
 */
export const WEBSOCKET_REQUEST_HEADERS: readonly string[] = [
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]

/** What of the upstream's 101 answer reaches the browser (RFC 6455 §4.2.2); nothing else. */
export const WEBSOCKET_RESPONSE_HEADERS: readonly string[] = [
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]

/**
 * Never forwarded from the browser, whatever a route lists: its credentials, what the broker
 * sets itself, hop-by-hop fields and forwarding data only a proxy may write.
 */
export function neverForwarded(name: string, csrfHeaderName: string): boolean {
  return (
    HOP_BY_HOP.has(name) ||
    BROKER_OWNED.has(name) ||
    name === csrfHeaderName ||
    name.startsWith('x-forwarded-') ||
    name.startsWith('proxy-')
  )
}

const BROKER_OWNED = new Set([
  'host',
  'cookie',
  'authorization',
  'dpop',
  'content-length',
  'x-request-id',
  'forwarded',
  'x-real-ip',
  'expect',
])

const NONE_LISTED: ReadonlySet<string> = new Set()

/** Fields a Connection header names (RFC 9110 §7.6.1). The usual values name no other field. */
function connectionListed(value: string | null | undefined): ReadonlySet<string> {
  if (!value || value === 'keep-alive' || value === 'close') return NONE_LISTED
  return new Set(
    (value ?? '')
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean),
  )
}

/**
 * Headers for the upstream request (from a fetch Request or a node request): only the names
 * `allowed` holds, minus any the Connection header names (hop-by-hop by declaration). With
 * `span` (tracing on) the trace context is the span's in place of the browser's; without, the
 * browser's `traceparent` and `tracestate` pass as any allow-listed header. The caller adds
 * Authorization, X-Request-Id and the body's length.
 */
export function upstreamRequestHeaders(
  incoming: Headers | IncomingHttpHeaders,
  allowed: readonly string[],
  span?: Span,
): UpstreamHeaders {
  const web = incoming instanceof Headers
  const listed = connectionListed(web ? incoming.get('connection') : incoming.connection)
  const out: UpstreamHeaders = {}
  for (const name of allowed) {
    const value = web ? incoming.get(name) : incoming[name]
    if (value === undefined || value === null || listed.has(name)) continue
    out[name] = value
  }
  if (span) propagateTo(out, span)
  return out
}

/** Headers for the browser; upstream cookies never reach it. */
export function downstreamHeaderRecord(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(incoming.connection)
  const out: OutgoingHttpHeaders = {}
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name) || name === 'set-cookie')
      continue
    out[name] = value
  }
  // Responses of a signed-in user's API calls are personal: not cached unless the API says so.
  if (out['cache-control'] === undefined) out['cache-control'] = 'no-store'
  return out
}

export function downstreamResponseHeaders(incoming: IncomingHttpHeaders): Headers {
  const out = new Headers()
  for (const [name, value] of Object.entries(downstreamHeaderRecord(incoming))) {
    for (const v of Array.isArray(value) ? value : [String(value)]) out.append(name, v)
  }
  return out
}
