import type { MiddlewareHandler } from 'hono'

/**
 * CSP for pages the broker serves. CSP3 applies form-action to every redirect a form
 * submission follows, so a sign-out form whose answer redirects to the provider (a configured
 * logout URL, or OIDC_END_SESSION_METHOD=get) needs that origin there, or the browser stops it.
 */
export function pageCsp(formActionOrigins: readonly string[]): string {
  const formAction = ["'self'", ...new Set(formActionOrigins)].join(' ')
  return `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action ${formAction}`
}

/**
 * CSP of the page that posts the end-session form: nothing loads, one inline script runs (by
 * its hash), and the form may go only to the provider's end-session origin and, for a
 * provider that answers with a redirect, to the post-logout redirect URI's origin.
 */
export function endSessionPageCsp(options: {
  scriptHash: string
  formActionOrigins: readonly string[]
}): string {
  const formAction = [...new Set(options.formActionOrigins)].join(' ')
  return `default-src 'none'; script-src '${options.scriptHash}'; frame-ancestors 'none'; base-uri 'none'; form-action ${formAction}`
}

export interface SecurityHeaderOptions {
  https: boolean
  /** Origins a form on a page may end up at besides this one (a redirect after POST /auth/logout). */
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
 * that sets a cookie is never stored by a cache (RFC 9111 §5.2.2.5), whatever the route said:
 * a shared cache replaying it would hand one user's cookie to the next. A response the
 * proxy's fast path wrote itself (`proxiedStatus` set) already carries its headers. A page
 * whose route wrote its own, narrower CSP (the end-session form) keeps it.
 */
export function securityHeaders(options: SecurityHeaderOptions): MiddlewareHandler {
  const csp = pageCsp(options.formActionOrigins)
  return async function securityHeadersMiddleware(c, next) {
    await next()
    if (c.get('proxiedStatus') !== undefined) return
    const headers = responseSecurityHeaders(options, c.res.headers.get('content-type'), csp)
    if (c.res.headers.has('Content-Security-Policy')) delete headers['Content-Security-Policy']
    for (const [name, value] of Object.entries(headers)) c.header(name, value)
    if (c.res.headers.has('set-cookie')) c.header('Cache-Control', 'no-store')
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

/**
 * Clear-Site-Data on logout (W3C Clear Site Data §3.1): the browser drops this origin's HTTP
 * cache and its storage (localStorage, IndexedDB, service workers), where an app may keep a
 * signed-in user's data. Not "cookies": browsers apply that type to the whole registrable
 * domain, so it would sign the user out of sibling apps on other subdomains; the broker
 * clears its own cookies by name instead. Not "executionContexts": it would reload every tab.
 */
export const LOGOUT_CLEAR_SITE_DATA = '"cache", "storage"'
