import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

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

/** Never forwarded upstream: browser credentials, our CSRF header, spoofable forwarding data. */
const REQUEST_DROP = new Set([
  'host',
  'cookie',
  'authorization',
  'forwarded',
  'x-real-ip',
  'expect',
  // Replaced by the broker's own request id (see request-id.ts).
  'x-request-id',
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

function entriesOf(
  headers: Headers | IncomingHttpHeaders,
): Array<[string, string | string[] | undefined]> {
  return headers instanceof Headers ? [...headers.entries()] : Object.entries(headers)
}

/** Headers for the upstream request (from a fetch Request or a node request); the caller adds Authorization. */
export function upstreamRequestHeaders(
  incoming: Headers | IncomingHttpHeaders,
  csrfHeaderName: string,
): UpstreamHeaders {
  const entries = entriesOf(incoming)
  const listed = connectionListed(
    incoming instanceof Headers ? incoming.get('connection') : incoming.connection,
  )
  const out: UpstreamHeaders = {}
  for (const [name, value] of entries) {
    if (value === undefined || HOP_BY_HOP.has(name) || REQUEST_DROP.has(name) || listed.has(name))
      continue
    if (name === csrfHeaderName || name.startsWith('x-forwarded-')) continue
    out[name] = value
  }
  return out
}

/** Headers for the browser; upstream cookies never reach it. */
export function downstreamHeaderRecord(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(incoming.connection)
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(incoming)) {
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
