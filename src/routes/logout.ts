import type { Context } from 'hono'
import { Hono } from 'hono'
import * as oidc from 'openid-client'
import { BffError } from '../errors/bff-error.js'
import { renderErrorPage } from '../errors/render.js'
import {
  comesFromApp,
  contextHeaders,
  crossOriginReason,
  type HeaderReader,
} from '../middleware/csrf.js'
import { LOGOUT_CLEAR_SITE_DATA } from '../middleware/security-headers.js'
import { type EndSession, postLogoutRedirectUri } from '../oidc/end-session.js'
import { LogoutStateCookie } from '../session/logout-state-cookie.js'
import { sessionKey } from '../session/session-key.js'
import type { StoredSession } from '../session/types.js'
import type { RouteDeps } from './deps.js'
import { endSessionCsp, endSessionPage } from './end-session-page.js'
import { PROVIDER_UNREACHABLE_PATH } from './signed-out.js'

interface Ended {
  /** The session of this browser, when it still existed. */
  current: StoredSession | null
  /** Every session ended (this one first). */
  all: StoredSession[]
}

/**
 * POST /auth/logout[?scope=all] — a browser form post from the app (so it carries `Origin`)
 * or a fetch with the CSRF header. A cross-site form cannot end the session: it has a foreign
 * Origin, and the Strict session cookie is not sent with it anyway. `scope=all` ends every
 * session of this user (all devices), deleted in batches before the answer.
 */
export function logoutRoute(deps: RouteDeps): Hono {
  const app = new Hono()
  const logoutState = new LogoutStateCookie()

  /**
   * Fetch Metadata says so (`Sec-Fetch-Mode: navigate`); without it (older browsers, plain
   * http), a request with the CSRF header is a script's (a form cannot set a header).
   */
  function isNavigation(header: HeaderReader): boolean {
    const mode = header('sec-fetch-mode')
    if (mode !== undefined) return mode === 'navigate'
    return !header(deps.config.csrfHeaderName)
  }

  async function endSessions(key: string, everywhere: boolean): Promise<Ended> {
    if (!everywhere) {
      const current = await deps.sessions.delete(key)
      return { current, all: current ? [current] : [] }
    }
    const record = await deps.sessions.reload(key)
    if (!record) return { current: null, all: [] }
    const others = await deps.sessions.find({ iss: record.iss, sub: record.sub })
    const deleted = await deps.sessions.deleteMany([key, ...others])
    return {
      current: deleted.find((d) => d.key === key)?.session ?? null,
      all: deleted.map((d) => d.session),
    }
  }

  /**
   * RP-Initiated Logout 1.0 §2 with a state bound to this browser: a 200 page that posts
   * id_token_hint to the end_session_endpoint (never in a URL), else a 303 without the ID
   * token. Only a top-level navigation gets that page: a script's fetch could read its body,
   * and the ID token must never reach the app's scripts.
   */
  async function toProvider(c: Context, record: StoredSession): Promise<Response> {
    const state = oidc.randomState()
    const method = isNavigation(contextHeaders(c)) ? deps.config.endSessionMethod : 'get'
    let end: EndSession
    try {
      end = await deps.oidc.endSession({
        state,
        method,
        ...(record.tokens.idToken ? { idTokenHint: record.tokens.idToken } : {}),
      })
    } catch (error) {
      deps.logger.warn(
        { event: 'logout.provider_unavailable', detail: String(error) },
        'provider logout skipped',
      )
      return c.redirect(PROVIDER_UNREACHABLE_PATH, 303)
    }
    if (end.stateSent) logoutState.set(c, state)
    if (end.method === 'get') return c.redirect(end.url, 303)
    c.header('Content-Security-Policy', endSessionCsp(end, postLogoutRedirectUri(deps.config)))
    return c.html(endSessionPage(end), 200)
  }

  app.post('/auth/logout', async function logout(c) {
    const header = contextHeaders(c)
    if (
      !comesFromApp(header, {
        publicOrigin: deps.publicOrigin,
        headerName: deps.config.csrfHeaderName,
      })
    ) {
      const detail =
        crossOriginReason(header, deps.publicOrigin) ?? 'no origin, fetch metadata or csrf header'
      deps.logger.warn({ event: 'logout.csrf_refused', detail }, 'logout refused')
      return renderErrorPage(c, new BffError('csrf_failed'))
    }
    const scope = c.req.query('scope')
    if (scope !== undefined && scope !== 'all') {
      return renderErrorPage(c, new BffError('invalid_request', { detail: 'unknown scope' }))
    }
    const raw = deps.cookie.raw(c)
    const sid = raw ? await deps.cookie.unseal(raw) : null
    let ended: Ended = { current: null, all: [] }
    if (sid) {
      try {
        ended = await endSessions(sessionKey(sid), scope === 'all')
      } catch (error) {
        // Keep the cookie: the session still exists server side and the user can retry.
        return renderErrorPage(c, error)
      }
    }
    deps.cookie.clear(c)
    deps.metrics.sessionEnded(scope === 'all' ? 'logout_all' : 'logout', ended.all.length)
    c.header('Clear-Site-Data', LOGOUT_CLEAR_SITE_DATA)
    const current = ended.current
    if (!current) return c.redirect(deps.config.postLogoutReturnTo, 303)
    // After the local logout; a failure never undoes it. This session's tokens go first and
    // the answer waits for them (it says whether the provider could be reached); the other
    // sessions' (scope=all) are queued and revoked a few at a time after the answer.
    const outcome = deps.revocations.revokeFirst(current.tokens, 'logout')
    deps.revocations.enqueue(
      ended.all.filter((record) => record !== current).map((record) => record.tokens),
      'logout',
    )
    deps.logger.info(
      {
        event: 'logout.completed',
        sessions: ended.all.length,
        everywhere: scope === 'all',
        requestId: c.get('requestId'),
      },
      'signed out',
    )
    if ((await outcome) === 'provider_unreachable') {
      return c.redirect(PROVIDER_UNREACHABLE_PATH, 303)
    }
    return toProvider(c, current)
  })

  app.on(['GET', 'HEAD'], '/auth/logout', (c) => {
    c.header('Allow', 'POST')
    return renderErrorPage(c, new BffError('method_not_allowed'))
  })
  return app
}
