import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

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
])

function connectionListed(value: string | null | undefined): Set<string> {
  return new Set(
    (value ?? '')
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean),
  )
}

/** Headers for the upstream request; the caller adds Authorization afterwards. */
export function upstreamRequestHeaders(
  incoming: Headers,
  csrfHeaderName: string,
): OutgoingHttpHeaders {
  const listed = connectionListed(incoming.get('connection'))
  const out: OutgoingHttpHeaders = {}
  incoming.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || REQUEST_DROP.has(name) || listed.has(name)) return
    if (name === csrfHeaderName || name.startsWith('x-forwarded-')) return
    out[name] = value
  })
  return out
}

/** Headers for the browser; upstream cookies never reach it. */
export function downstreamResponseHeaders(incoming: IncomingHttpHeaders): Headers {
  const listed = connectionListed(incoming.connection)
  const out = new Headers()
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name) || name === 'set-cookie')
      continue
    for (const v of Array.isArray(value) ? value : [value]) out.append(name, v)
  }
  // Responses of a signed-in user's API calls are personal: not cached unless the API says so.
  if (!out.has('cache-control')) out.set('cache-control', 'no-store')
  return out
}
