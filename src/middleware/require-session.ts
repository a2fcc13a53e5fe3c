import type { Context, MiddlewareHandler } from 'hono'
import { BffError } from '../errors/bff-error.js'
import { renderJsonError } from '../errors/render.js'
import type { AccessTokenService } from '../session/access-token.js'
import type { SessionCookie } from '../session/cookie.js'
import type { SessionService } from '../session/session-service.js'
import type { ActiveSession } from '../session/types.js'

export interface SessionDeps {
  cookie: SessionCookie
  sessions: SessionService
  tokens: AccessTokenService
}

/**
 * The session of this request, or a 401 BffError. A cookie that fails to unseal or names
 * a session that is gone is cleared; a store failure is a 503 and keeps the cookie
 * (a Redis blip must never log anyone out).
 */
export function resolveSession(
  c: Context,
  deps: SessionDeps,
): ActiveSession | Promise<ActiveSession> {
  const raw = deps.cookie.raw(c)
  if (!raw) throw new BffError('unauthenticated')
  // The hot path: decided without I/O or awaiting; everything else takes the full path.
  const hit = sessionFromMemory(raw, deps)
  if (hit) {
    deps.sessions.countCacheHit()
    return hit
  }
  return sessionFromStore(raw, deps, () => deps.cookie.clear(c))
}

/**
 * Without I/O: the session a cookie names when the cookie unsealed in this process before
 * and the session is one this instance may serve from memory; undefined otherwise (nothing
 * counted, nothing changed).
 */
export function sessionFromMemory(raw: string, deps: SessionDeps): ActiveSession | undefined {
  const known = deps.cookie.unsealedBefore(raw)
  return known === undefined ? undefined : deps.sessions.fromMemory(known.key)
}

/** The session a cookie names, unsealing it and asking the store; 401 (cookie cleared) otherwise. */
export async function sessionFromStore(
  raw: string,
  deps: SessionDeps,
  clearCookie: () => void,
): Promise<ActiveSession> {
  const sid = await deps.cookie.unseal(raw)
  if (!sid) {
    clearCookie()
    throw new BffError('unauthenticated', { detail: 'session cookie failed to unseal' })
  }
  const lookup = await deps.sessions.lookup(sid)
  if (lookup.status !== 'active') {
    clearCookie()
    throw new BffError('session_expired', { detail: `session ${lookup.status}` })
  }
  return lookup.session
}

/** Exposes the session to later handlers as `c.var.activeSession` and `c.var.bff`. */
export function exposeSession(c: Context, session: ActiveSession, deps: SessionDeps): void {
  c.set('activeSession', session)
  c.set('bff', {
    sub: session.record.sub,
    claims: session.record.claims,
    accessToken: async () => (await deps.tokens.fresh(session)).accessToken,
  })
}

/**
 * For API-style routes: no session → 401 JSON, never a redirect.
 */
export function requireSession(deps: SessionDeps): MiddlewareHandler {
  return async function requireSessionMiddleware(c, next) {
    let session: ActiveSession
    try {
      session = await resolveSession(c, deps)
    } catch (error) {
      return renderJsonError(c, error)
    }
    exposeSession(c, session, deps)
    // A BffError thrown later (e.g. session_expired from a refused refresh) reaches the
    // app's onError, which answers JSON and clears the cookie.
    await next()
  }
}
