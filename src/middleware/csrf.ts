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
 */
export function crossOriginReason(c: Context, publicOrigin: string): string | undefined {
  const site = c.req.header('sec-fetch-site')
  if (site !== undefined && site !== 'same-origin') return `sec-fetch-site ${site}`
  const origin = c.req.header('origin')
  if (origin !== undefined && origin !== publicOrigin) return 'foreign origin'
  return undefined
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
