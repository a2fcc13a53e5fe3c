import type { Context } from 'hono'

export interface CsrfOptions {
  publicOrigin: string
  headerName: string
}

/** One request header by lower-case name (Hono's context or node's request, same answer). */
export type HeaderReader = (name: string) => string | undefined

export const contextHeaders =
  (c: Context): HeaderReader =>
  (name) =>
    c.req.header(name)

/**
 * Fetch Metadata and Origin: a request that says it comes from another origin is refused,
 * even a same-site sibling (SameSite=Strict does not separate sibling subdomains).
 * `Origin: null` is what a same-origin POST from a `Referrer-Policy: no-referrer` page
 * sends (Fetch §3.2.5); it is accepted only when Sec-Fetch-Site vouches for the request.
 */
export function crossOriginReason(header: HeaderReader, publicOrigin: string): string | undefined {
  const site = header('sec-fetch-site')
  if (site !== undefined && site !== 'same-origin') return `sec-fetch-site ${site}`
  const origin = header('origin')
  if (origin === undefined || origin === publicOrigin) return undefined
  if (origin === 'null' && site === 'same-origin') return undefined
  return 'foreign origin'
}

/**
 * Positive evidence that a state-changing browser request comes from the app itself: the
 * CSRF header (needs a preflight cross-origin), a same-origin Origin, or Sec-Fetch-Site.
 * Browsers do not let pages forge Origin or Sec-Fetch-*.
 */
export function comesFromApp(header: HeaderReader, options: CsrfOptions): boolean {
  if (crossOriginReason(header, options.publicOrigin)) return false
  return (
    Boolean(header(options.headerName)) ||
    header('origin') === options.publicOrigin ||
    header('sec-fetch-site') === 'same-origin'
  )
}

/**
 * Why an /api request is refused, or undefined: it must carry the custom header (a
 * cross-origin page cannot send it without a CORS preflight, which the broker never grants)
 * and must not come from another origin. GET is included, so `<script src=/api/…>` fails too.
 * A WebSocket handshake (`webSocket`) is judged by its Origin instead of the header.
 */
export function apiCsrfRefusal(
  header: HeaderReader,
  options: CsrfOptions,
  webSocket = false,
): string | undefined {
  const crossOrigin = crossOriginReason(header, options.publicOrigin)
  if (crossOrigin) return crossOrigin
  if (webSocket) return webSocketOriginRefusal(header, options.publicOrigin)
  return header(options.headerName) ? undefined : 'missing csrf header'
}

/**
 * A WebSocket handshake cannot carry the custom header (the browser API sets no headers), so
 * its Origin is the only evidence (RFC 6455 §10.2: browsers always send it, pages cannot
 * forge it): it must be present and be the public origin exactly. No `null`, no sibling.
 */
function webSocketOriginRefusal(header: HeaderReader, publicOrigin: string): string | undefined {
  const origin = header('origin')
  if (origin === undefined) return 'websocket without origin'
  return origin === publicOrigin ? undefined : 'websocket from another origin'
}
