import { Hono } from 'hono'
import { escapeHtml, page } from '../lib/html.js'
import { safeEqual } from '../lib/random.js'
import { LogoutStateCookie } from '../session/logout-state-cookie.js'
import type { RouteDeps } from './deps.js'

/** Where logout sends the browser when the provider could not be reached. */
export const PROVIDER_UNREACHABLE_PATH = '/auth/signed-out?provider=unreachable'

function signedOutPage(returnTo: string, providerUnreachable: boolean): string {
  const note = providerUnreachable
    ? `<p>The identity provider could not be reached, so you may still be signed in there.
Close the browser, or sign out at the provider once it is back, to end that sign-in too.</p>`
    : ''
  return page(
    'Signed out',
    `<main>
<h1>You are signed out</h1>
<p>Your session in this app has ended.</p>
${note}
<p><a href="${escapeHtml(returnTo)}">Back to the app</a></p>
</main>`,
  )
}

/**
 * GET /auth/signed-out — the default post_logout_redirect_uri. With the state this browser
 * was given at logout (RP-Initiated Logout 1.0 §3), 303 to the app; otherwise a small page.
 */
export function signedOutRoute(deps: RouteDeps): Hono {
  const app = new Hono()
  const logoutState = new LogoutStateCookie()
  app.get('/auth/signed-out', function signedOut(c) {
    const expected = logoutState.take(c)
    const returnTo = deps.config.postLogoutReturnTo
    if (c.req.query('provider') === 'unreachable') return c.html(signedOutPage(returnTo, true))
    const state = c.req.query('state')
    if (state && expected && safeEqual(state, expected)) return c.redirect(returnTo, 303)
    if (state) {
      deps.logger.info(
        { event: 'logout.state_mismatch', cookie: Boolean(expected) },
        'post-logout state not from this browser; showing the signed-out page',
      )
    }
    return c.html(signedOutPage(returnTo, false))
  })
  return app
}
