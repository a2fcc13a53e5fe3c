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
    }
    return c.json(body)
  })
  return app
}
