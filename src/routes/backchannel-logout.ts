import type { Context } from 'hono'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { BffError, toBffError } from '../errors/bff-error.js'
import { renderJsonError } from '../errors/render.js'
import { storeCall } from '../errors/store-call.js'
import { sha256 } from '../lib/random.js'
import { type LogoutClaims, REPLAY_WINDOW_MS } from '../oidc/logout-token.js'
import type { RouteDeps } from './deps.js'

/** A logout token is a few hundred bytes; anything near this is not one. */
const MAX_BODY_BYTES = 16 * 1024

async function readLogoutToken(c: Context): Promise<string> {
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') {
    throw new BffError('invalid_request', { detail: `content-type ${type ?? 'missing'}` })
  }
  const tokens = new URLSearchParams(await c.req.text()).getAll('logout_token')
  const token = tokens[0]
  if (tokens.length !== 1 || !token) {
    throw new BffError('invalid_request', { detail: 'logout_token missing or repeated' })
  }
  return token
}

/**
 * POST /auth/backchannel-logout — the provider's server-to-server call (OIDC Back-Channel
 * Logout 1.0). No cookie, no CSRF check: the signed logout token is the only credential.
 */
export function backchannelLogoutRoute(deps: RouteDeps): Hono {
  const app = new Hono()

  /** §2.7: with a sid, that provider session's sessions (of that sub when both are given); with a sub only, all the user's. */
  async function matchingSessions(claims: LogoutClaims): Promise<string[]> {
    const { iss, sid, sub } = claims
    const bySid = sid ? await deps.sessions.find({ iss, sid }) : undefined
    const bySub = sub ? await deps.sessions.find({ iss, sub }) : undefined
    if (bySid && bySub) return bySid.filter((key) => bySub.includes(key))
    return bySid ?? bySub ?? []
  }

  app.post(
    '/auth/backchannel-logout',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => renderJsonError(c, new BffError('invalid_request')),
    }),
    async function backchannelLogout(c) {
      c.header('Cache-Control', 'no-store')
      try {
        const claims = await deps.logoutTokens.verify(await readLogoutToken(c))
        // §2.6: no token with the same jti received recently. Recorded only once it is proven genuine.
        const replayId = `jti:${sha256(JSON.stringify([claims.iss, claims.jti]))}`
        const first = await storeCall('remember jti', () =>
          deps.stores.replayCache.rememberOnce(replayId, REPLAY_WINDOW_MS),
        )
        if (!first) throw new BffError('invalid_token', { detail: 'replayed jti' })
        let deleted: Awaited<ReturnType<typeof deps.sessions.deleteMany>>
        try {
          deleted = await deps.sessions.deleteMany(await matchingSessions(claims))
        } catch (error) {
          // Nothing was ended, so the provider's retry of this token must not count as a replay.
          await deps.stores.replayCache.forget(replayId).catch(() => {})
          throw error
        }
        deps.metrics.sessionEnded('backchannel', deleted.length)
        deps.logger.info(
          {
            event: 'backchannel.logout',
            sessions: deleted.length,
            bySid: Boolean(claims.sid),
            bySub: Boolean(claims.sub),
            requestId: c.get('requestId'),
          },
          'back-channel logout ended sessions',
        )
        // The provider waits for this answer; revocation runs after it, queued, best-effort.
        deps.revocations.enqueue(
          deleted.map(({ session }) => session.tokens),
          'backchannel',
        )
        return c.body(null, 200)
      } catch (error) {
        let err = toBffError(error)
        if (err.code === 'internal') {
          deps.logger.error({ event: 'backchannel.unexpected', detail: err.detail }, 'bug')
          err = new BffError('invalid_request', { detail: err.detail })
        }
        deps.logger.warn(
          {
            event: 'backchannel.refused',
            code: err.code,
            detail: err.detail,
            requestId: c.get('requestId'),
          },
          'back-channel logout refused',
        )
        return renderJsonError(c, err)
      }
    },
  )
  return app
}
