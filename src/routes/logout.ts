import { Hono } from 'hono'
import * as oidc from 'openid-client'
import { BffError } from '../errors/bff-error.js'
import { renderErrorPage } from '../errors/render.js'
import { comesFromApp, crossOriginReason } from '../middleware/csrf.js'
import { sessionKey } from '../session/session-service.js'
import type { StoredSession } from '../session/types.js'
import type { RouteDeps } from './deps.js'

/**
 * POST /auth/logout — a browser form post from the app (so it carries `Origin`) or a fetch
 * with the CSRF header. A cross-site form cannot end the session: it has a foreign Origin,
 * and the Strict session cookie is not sent with it anyway.
 */
export function logoutRoute(deps: RouteDeps): Hono {
  const app = new Hono()

  /** RFC 7009 revocation, bounded by the provider timeout; never blocks the local logout. */
  async function revoke(record: StoredSession) {
    const token = record.tokens.refreshToken
    if (!token) return
    try {
      await deps.oidc.revoke(token, 'refresh_token')
      deps.logger.info({ event: 'logout.revoked' }, 'refresh token revoked')
    } catch (error) {
      deps.logger.warn(
        { event: 'logout.revocation_failed', detail: String(error) },
        'refresh token not revoked',
      )
    }
  }

  async function providerLogoutUrl(record: StoredSession | null): Promise<string> {
    try {
      return await deps.oidc.logoutUrl({
        state: oidc.randomState(),
        ...(record?.tokens.idToken ? { idTokenHint: record.tokens.idToken } : {}),
      })
    } catch (error) {
      deps.logger.warn(
        { event: 'logout.provider_unavailable', detail: String(error) },
        'provider logout skipped',
      )
      return '/'
    }
  }

  app.post('/auth/logout', async (c) => {
    if (
      !comesFromApp(c, { publicOrigin: deps.publicOrigin, headerName: deps.config.csrfHeaderName })
    ) {
      const detail =
        crossOriginReason(c, deps.publicOrigin) ?? 'no origin, fetch metadata or csrf header'
      deps.logger.warn({ event: 'logout.csrf_refused', detail }, 'logout refused')
      return renderErrorPage(c, new BffError('csrf_failed'))
    }
    const raw = deps.cookie.raw(c)
    const sid = raw ? await deps.cookie.unseal(raw) : null
    let record: StoredSession | null = null
    if (sid) {
      try {
        record = await deps.sessions.delete(sessionKey(sid))
      } catch (error) {
        // Keep the cookie: the session still exists server side and the user can retry.
        return renderErrorPage(c, error)
      }
    }
    deps.cookie.clear(c)
    if (!record) return c.redirect('/', 303)
    await revoke(record)
    deps.logger.info({ event: 'logout.completed', requestId: c.get('requestId') }, 'signed out')
    return c.redirect(await providerLogoutUrl(record), 303)
  })

  app.on(['GET', 'HEAD'], '/auth/logout', (c) => {
    c.header('Allow', 'POST')
    return renderErrorPage(c, new BffError('method_not_allowed'))
  })
  return app
}
