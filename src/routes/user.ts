import { Hono } from 'hono'
import { requireSession } from '../middleware/require-session.js'
import type { RouteDeps } from './deps.js'

export interface UserInfoBody {
  sub: string
  claims: Record<string, unknown>
  /** When the session ends if idle from now on (sliding). */
  sessionExpiresAt: string
  /** When the session ends whatever happens. */
  absoluteExpiresAt: string
  /** When the provider last authenticated the user (ID token auth_time), if it said. */
  authenticatedAt?: string
  /** The authentication context class reached (ID token acr), if the provider said. */
  acr?: string
}

/** GET /auth/user — claims for the UI, never a token. */
export function userRoute(deps: RouteDeps): Hono {
  const app = new Hono()
  app.get('/auth/user', requireSession(deps), (c) => {
    const { record } = c.get('activeSession')
    const body: UserInfoBody = {
      sub: record.sub,
      claims: record.claims,
      sessionExpiresAt: new Date(deps.sessions.idleExpiresAt(record)).toISOString(),
      absoluteExpiresAt: new Date(record.absoluteExpiresAt).toISOString(),
      ...(record.authTime !== undefined && {
        authenticatedAt: new Date(record.authTime * 1000).toISOString(),
      }),
      ...(record.acr !== undefined && { acr: record.acr }),
    }
    return c.json(body)
  })
  return app
}
