import type { MiddlewareHandler } from 'hono'

/**
 * CSP for pages the broker serves. CSP3 applies form-action to every redirect a form
 * submission follows, so the sign-out form (POST /auth/logout → 303 to the provider's
 * end-session endpoint) needs the provider's origin there, or the browser stops it.
 */
export function pageCsp(formActionOrigins: readonly string[]): string {
  const formAction = ["'self'", ...new Set(formActionOrigins)].join(' ')
  return `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action ${formAction}`
}

export interface SecurityHeaderOptions {
  https: boolean
  /** Origins a form may end up at: the provider (end-session) and any configured logout URL. */
  formActionOrigins: readonly string[]
}

/** The headers every broker response carries for a given content type. */
export function responseSecurityHeaders(
  options: SecurityHeaderOptions,
  contentType: string | null | undefined,
  csp = pageCsp(options.formActionOrigins),
): Record<string, string> {
  const headers: Record<string, string> = {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
  }
  if (options.https) headers['Strict-Transport-Security'] = 'max-age=31536000; includeSubDomains'
  if (contentType?.startsWith('text/html')) headers['Content-Security-Policy'] = csp
  return headers
}

/**
 * Headers every broker response carries; HSTS only when the public URL is https. A response
 * the proxy's fast path wrote itself (`proxiedStatus` set) already carries them.
 */
export function securityHeaders(options: SecurityHeaderOptions): MiddlewareHandler {
  const csp = pageCsp(options.formActionOrigins)
  return async function securityHeadersMiddleware(c, next) {
    await next()
    if (c.get('proxiedStatus') !== undefined) return
    const headers = responseSecurityHeaders(options, c.res.headers.get('content-type'), csp)
    for (const [name, value] of Object.entries(headers)) c.header(name, value)
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
