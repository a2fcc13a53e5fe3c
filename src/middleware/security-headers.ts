import type { MiddlewareHandler } from 'hono'

export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"

/** Headers every broker response carries; HSTS only when the public URL is https. */
export function securityHeaders(options: { https: boolean }): MiddlewareHandler {
  return async function securityHeadersMiddleware(c, next) {
    await next()
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('X-Frame-Options', 'DENY')
    if (options.https) c.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains')
    if (c.res.headers.get('content-type')?.startsWith('text/html')) {
      c.header('Content-Security-Policy', PAGE_CSP)
    }
  }
}

/** For /auth/*: never cached, never leaks the URL (which may carry code and state) onward. */
export function authResponseHeaders(): MiddlewareHandler {
  return async function authHeaders(c, next) {
    await next()
    c.header('Cache-Control', 'no-store')
    c.header('Referrer-Policy', 'no-referrer')
  }
}
