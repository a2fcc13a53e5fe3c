import type { Context } from 'hono'
import { deleteCookie, setCookie } from 'hono/cookie'
import { serialize } from 'hono/utils/cookie'
import { sealData, unsealData } from 'iron-session'
import type { BffConfig } from '../config/schema.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import { cookieValue } from '../lib/cookie-header.js'
import { sha256 } from '../lib/random.js'
import { sessionKey } from './session-key.js'

interface SealedSession {
  sid: string
}

/** Unsealed cookies remembered per process: unsealing costs ~0.3 ms of CPU (PBKDF2, HMAC, AES). */
const UNSEAL_CACHE_ENTRIES = 10_000
const UNSEAL_CACHE_BYTES = 4 * 1024 * 1024
const UNSEAL_CACHE_MS = 5 * 60 * 1000
/** What one cached cookie costs: three short strings (UTF-16) and the Map entry around them. */
const cacheEntryBytes = (hash: string, entry: { sid: string; key: string }) =>
  2 * (hash.length + entry.sid.length + entry.key.length) + 96
/**
 * Hashes of seals seen lately, so a browser's next request with the same seal skips the
 * SHA-256. Only seals that passed the format check go in (at most ~900 characters each), and
 * the whole memo is dropped when full: it only saves work, the cache above decides.
 */
const RECENT_HASHES = 1024

/**
 * The seal exactly as iron-session 8 writes it: `Fe26.2*<password id>*<salt, hex>*<iv>*
 * <ciphertext>*<expiry, ms>*<hmac salt, hex>*<hmac>~2`, base64url parts, of a size a session id
 * makes. iron-session reads the `~2` suffix with parseInt, so `<seal>~2X`, `<seal>~2~junk` or
 * `<seal>~20` would unseal too: each a new spelling of one cookie. Only this form is accepted.
 */
const CANONICAL_SEAL =
  /^Fe26\.2\*(\d{1,9})\*[0-9a-f]{64}\*[A-Za-z0-9_-]{22}\*[A-Za-z0-9_-]{22,512}\*\d{13,15}\*[0-9a-f]{64}\*[A-Za-z0-9_-]{43}~2$/

/** The expiry iron wrote into a seal (`Fe26.2*id*salt*iv*data*expiration*hmacSalt*hmac`), HMAC-covered. */
function sealExpiry(seal: string): number {
  const expiration = Number(seal.split('*')[5])
  return Number.isFinite(expiration) && expiration > 0 ? expiration : Number.POSITIVE_INFINITY
}

/**
 * The session cookie: an iron-session seal of the random session id, nothing else.
 * RFC 6265bis §4.1.3.2: the __Host- prefix requires Secure, Path=/ and no Domain.
 * SameSite=Strict: never sent on cross-site requests, nor on a redirect chain that began on
 * another site: so the callback answers a 200 page that navigates onward (routes/callback.ts).
 */
export class SessionCookie {
  readonly name: string
  readonly #passwords: Record<string, string>
  readonly #ttlSeconds: number
  /**
   * Cookie value → its session id and that id's store key (derived once, not per request).
   * Keyed by a hash of the cookie value, so an entry costs the same whatever the client sent,
   * and bounded by count and bytes: no spelling of a cookie can push others' entries out
   * faster than genuine seals can. Its entries expire on the system clock (Date.now), not the
   * injected one: iron-session writes and checks a seal's expiry on the system clock.
   */
  readonly #unsealed: BoundedCache<{ sid: string; key: string }>
  readonly #recentHashes = new Map<string, string>()

  constructor(config: BffConfig, limits: { cacheEntries?: number } = {}) {
    this.name = config.cookieName
    this.#passwords = Object.fromEntries(config.cookieSecrets.map((s) => [String(s.id), s.secret]))
    this.#ttlSeconds = config.sessionAbsoluteTimeoutSeconds
    this.#unsealed = new BoundedCache({
      maxEntries: limits.cacheEntries ?? UNSEAL_CACHE_ENTRIES,
      maxBytes: UNSEAL_CACHE_BYTES,
      sizeOf: cacheEntryBytes,
    })
  }

  /** The session cookie's value as the browser sent it (see cookieValue). */
  raw(c: Context): string | undefined {
    return cookieValue(c.req.header('cookie'), this.name)
  }

  /** The same value as `raw`, read from a Cookie header string. */
  rawFromHeader(header: string | undefined): string | undefined {
    return cookieValue(header, this.name)
  }

  /**
   * The session id inside a cookie value, or null when it is tampered, foreign or expired.
   * Only values that unsealed are cached (a bad cookie is checked every time), and only
   * until the seal's own expiry. The cookie only names the session: whether the session still
   * exists is decided by the store or the session cache, which every instance's logout and
   * revocation reach at once (see SessionCache), never by this cache.
   */
  async unseal(value: string): Promise<string | null> {
    if (!this.isCanonical(value)) return null
    const now = Date.now()
    const hash = this.#hashOfChecked(value)
    const cached = this.#unsealed.get(hash, now)
    if (cached !== undefined) return cached.sid
    let sid: string | null
    try {
      const data = await unsealData<Partial<SealedSession>>(value, {
        password: this.#passwords,
        ttl: this.#ttlSeconds,
      })
      sid = typeof data.sid === 'string' && data.sid.length >= 32 ? data.sid : null
    } catch {
      sid = null
    }
    if (sid) {
      const expiresAt = Math.min(now + UNSEAL_CACHE_MS, sealExpiry(value))
      this.#unsealed.set(hash, { sid, key: sessionKey(sid) }, expiresAt)
    }
    return sid
  }

  /** The session store key of a value that unsealed before and is still cached; no work otherwise. */
  unsealedBefore(value: string): { sid: string; key: string } | undefined {
    // No format check needed here: only values that passed it (in `unseal`) are ever cached,
    // and a hit means a cached value had this value's SHA-256, so it is this very string.
    const remembered = this.#recentHashes.get(value)
    if (remembered !== undefined) return this.#unsealed.get(remembered, Date.now())
    const hash = sha256(value)
    const entry = this.#unsealed.get(hash, Date.now())
    if (entry !== undefined) this.#remember(value, hash)
    return entry
  }

  /** The SHA-256 of a value that passed the format check, remembered for its next request. */
  #hashOfChecked(value: string): string {
    const remembered = this.#recentHashes.get(value)
    if (remembered !== undefined) return remembered
    const hash = sha256(value)
    this.#remember(value, hash)
    return hash
  }

  #remember(value: string, hash: string): void {
    if (this.#recentHashes.size >= RECENT_HASHES) this.#recentHashes.clear()
    this.#recentHashes.set(value, hash)
  }

  /** Whether a value is a seal in the exact form this broker writes, under one of its passwords. */
  isCanonical(value: string): boolean {
    const match = CANONICAL_SEAL.exec(value)
    return match !== null && Object.hasOwn(this.#passwords, match[1] as string)
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

  /** The Set-Cookie value `clear` writes, for answers written without Hono (an Upgrade refusal). */
  clearingHeader(): string {
    return serialize(this.name, '', {
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
      maxAge: 0,
    })
  }
}
