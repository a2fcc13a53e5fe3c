import type { Context, MiddlewareHandler } from 'hono'
import { BffError } from '../errors/bff-error.js'
import { renderJsonError } from '../errors/render.js'

export interface CsrfOptions {
  publicOrigin: string
  headerName: string
}

/**
 * Fetch Metadata and Origin: a request that says it comes from another origin is refused,
 * even a same-site sibling (SameSite=Strict does not separate sibling subdomains).
 * `Origin: null` is what a same-origin POST from a `Referrer-Policy: no-referrer` page
 * sends (Fetch §3.2.5); it is accepted only when Sec-Fetch-Site vouches for the request.
 */
export function crossOriginReason(c: Context, publicOrigin: string): string | undefined {
  const site = c.req.header('sec-fetch-site')
  if (site !== undefined && site !== 'same-origin') return `sec-fetch-site ${site}`
  const origin = c.req.header('origin')
  if (origin === undefined || origin === publicOrigin) return undefined
  if (origin === 'null' && site === 'same-origin') return undefined
  return 'foreign origin'
}

/**
 * Positive evidence that a state-changing browser request comes from the app itself: the
 * CSRF header (needs a preflight cross-origin), a same-origin Origin, or Sec-Fetch-Site.
 * Browsers do not let pages forge Origin or Sec-Fetch-*.
 */
export function comesFromApp(c: Context, options: CsrfOptions): boolean {
  if (crossOriginReason(c, options.publicOrigin)) return false
  return (
    Boolean(c.req.header(options.headerName)) ||
    c.req.header('origin') === options.publicOrigin ||
    c.req.header('sec-fetch-site') === 'same-origin'
  )
}

/**
 * Every /api request must carry the custom header (a cross-origin page cannot send it
 * without a CORS preflight, which the broker never grants) and must not come from
 * another origin. GET is included, so `<script src=/api/…>` fails too.
 */
export function requireCsrfHeader(options: CsrfOptions): MiddlewareHandler {
  if (!options.headerName.startsWith('x-'))
    throw new Error('csrf header must be a custom x- header')
  return async function csrf(c, next) {
    const crossOrigin = crossOriginReason(c, options.publicOrigin)
    const value = c.req.header(options.headerName)
    if (crossOrigin || !value) {
      return renderJsonError(
        c,
        new BffError('csrf_failed', { detail: crossOrigin ?? 'missing csrf header' }),
      )
    }
    await next()
  }
}
