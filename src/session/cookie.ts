import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { sealData, unsealData } from 'iron-session'
import type { BffConfig } from '../config/schema.js'

interface SealedSession {
  sid: string
}

/**
 * The session cookie: an iron-session seal of the random session id, nothing else.
 * RFC 6265bis §4.1.3.2: the __Host- prefix requires Secure, Path=/ and no Domain.
 * SameSite=Strict: never sent on cross-site requests (see design trap 1 for the callback).
 */
export class SessionCookie {
  readonly name: string
  readonly #passwords: Record<string, string>
  readonly #ttlSeconds: number

  constructor(config: BffConfig) {
    this.name = config.cookieName
    this.#passwords = Object.fromEntries(config.cookieSecrets.map((s) => [String(s.id), s.secret]))
    this.#ttlSeconds = config.sessionAbsoluteTimeoutSeconds
  }

  raw(c: Context): string | undefined {
    return getCookie(c, this.name)
  }

  /** The session id inside a cookie value, or null when it is tampered, foreign or expired. */
  async unseal(value: string): Promise<string | null> {
    try {
      const data = await unsealData<Partial<SealedSession>>(value, {
        password: this.#passwords,
        ttl: this.#ttlSeconds,
      })
      return typeof data.sid === 'string' && data.sid.length >= 32 ? data.sid : null
    } catch {
      return null
    }
  }

  async set(c: Context, sid: string): Promise<void> {
    const sealed = await sealData({ sid } satisfies SealedSession, {
      password: this.#passwords,
      ttl: this.#ttlSeconds,
    })
    setCookie(c, this.name, sealed, {
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
      maxAge: this.#ttlSeconds,
    })
  }

  clear(c: Context): void {
    deleteCookie(c, this.name, { path: '/', secure: true, httpOnly: true, sameSite: 'Strict' })
  }
}
