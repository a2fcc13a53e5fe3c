import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'

const NAME = '__Host-bff-logout'
/** Time the user has to confirm the sign-out at the provider and come back. */
export const LOGOUT_STATE_TTL_SECONDS = 600
const OPTIONS = { path: '/', secure: true, httpOnly: true, sameSite: 'Lax' } as const

/**
 * Binds the `state` of an RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2, §3) to the
 * browser that started it. SameSite=Lax: the provider's redirect back to the signed-out page
 * is a cross-site top-level GET, on which a Strict cookie would not be sent.
 */
export class LogoutStateCookie {
  set(c: Context, state: string): void {
    setCookie(c, NAME, state, { ...OPTIONS, maxAge: LOGOUT_STATE_TTL_SECONDS })
  }

  /** The state this browser expects, cleared as it is read (it serves one return). */
  take(c: Context): string | undefined {
    const value = getCookie(c, NAME)
    if (value !== undefined) deleteCookie(c, NAME, OPTIONS)
    return value
  }
}
