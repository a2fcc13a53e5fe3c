import { isSecureContext } from './site.js'

export type SameSitePolicy = 'Strict' | 'Lax' | 'None'

export interface StoredCookie {
  name: string
  value: string
  /** Host name the cookie belongs to (ports never matter for cookies). */
  domain: string
  /** True when set without a Domain attribute: sent to that exact host only. */
  hostOnly: boolean
  path: string
  /** Epoch milliseconds; undefined for a session cookie. */
  expiresAt?: number
  secure: boolean
  httpOnly: boolean
  /** As written by the server; undefined means the browser default (Lax). */
  sameSite?: SameSitePolicy
  /** The Set-Cookie header line that created it. */
  raw: string
  createdAt: number
}

/** What kind of cookies a request may carry, decided by the SameSite rules. */
export type CookieAccess = 'all' | 'lax' | 'none-only'

function defaultPath(url: URL): string {
  // RFC 6265 §5.1.4: the directory of the request path.
  const path = url.pathname
  if (!path.startsWith('/') || path.lastIndexOf('/') === 0) return '/'
  return path.slice(0, path.lastIndexOf('/'))
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}

function domainMatches(hostname: string, cookie: StoredCookie): boolean {
  if (cookie.hostOnly) return hostname === cookie.domain
  return hostname === cookie.domain || hostname.endsWith(`.${cookie.domain}`)
}

function parseSameSite(value: string): SameSitePolicy | undefined {
  const lower = value.toLowerCase()
  if (lower === 'strict') return 'Strict'
  if (lower === 'lax') return 'Lax'
  if (lower === 'none') return 'None'
  return undefined
}

/**
 * Parses one Set-Cookie line as a browser would; returns undefined for a cookie a
 * browser rejects (RFC 6265bis §5.6 plus the __Host-/__Secure- prefix rules).
 */
export function parseSetCookie(line: string, url: URL, now: number): StoredCookie | undefined {
  const [pair = '', ...attributes] = line.split(';')
  const eq = pair.indexOf('=')
  if (eq <= 0) return undefined
  const cookie: StoredCookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    domain: url.hostname,
    hostOnly: true,
    path: defaultPath(url),
    secure: false,
    httpOnly: false,
    raw: line,
    createdAt: now,
  }
  let maxAge: number | undefined
  let expires: number | undefined
  let hasPath = false
  for (const attribute of attributes) {
    const [rawKey = '', ...rest] = attribute.split('=')
    const key = rawKey.trim().toLowerCase()
    const value = rest.join('=').trim()
    if (key === 'path' && value.startsWith('/')) {
      cookie.path = value
      hasPath = true
    } else if (key === 'domain' && value !== '') {
      const domain = value.replace(/^\./, '').toLowerCase()
      const host = url.hostname
      if (host !== domain && !host.endsWith(`.${domain}`)) return undefined
      cookie.domain = domain
      cookie.hostOnly = false
    } else if (key === 'max-age' && /^-?\d+$/.test(value)) {
      maxAge = Number(value)
    } else if (key === 'expires') {
      const parsed = Date.parse(value)
      if (!Number.isNaN(parsed)) expires = parsed
    } else if (key === 'secure') {
      cookie.secure = true
    } else if (key === 'httponly') {
      cookie.httpOnly = true
    } else if (key === 'samesite') {
      cookie.sameSite = parseSameSite(value)
    }
  }
  // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
  if (maxAge !== undefined) cookie.expiresAt = maxAge <= 0 ? 0 : now + maxAge * 1000
  else if (expires !== undefined) cookie.expiresAt = expires

  if (cookie.secure && !isSecureContext(url)) return undefined
  if (cookie.sameSite === 'None' && !cookie.secure) return undefined
  if (cookie.name.startsWith('__Secure-') && !cookie.secure) return undefined
  if (cookie.name.startsWith('__Host-')) {
    if (!cookie.secure || !cookie.hostOnly || !hasPath || cookie.path !== '/') return undefined
  }
  return cookie
}

export class CookieJar {
  #cookies: StoredCookie[] = []

  /** Stores the Set-Cookie lines of a response; expired ones delete their match. */
  store(url: URL, setCookieLines: string[], now = Date.now()): void {
    for (const line of setCookieLines) {
      const cookie = parseSetCookie(line, url, now)
      if (!cookie) continue
      this.#cookies = this.#cookies.filter(
        (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
      )
      if (cookie.expiresAt === undefined || cookie.expiresAt > now) this.#cookies.push(cookie)
    }
  }

  /** Cookies a browser would send to url, most specific path first. */
  matching(url: URL, access: CookieAccess = 'all', now = Date.now()): StoredCookie[] {
    this.#purge(now)
    return this.#cookies
      .filter((c) => domainMatches(url.hostname, c))
      .filter((c) => pathMatches(url.pathname, c.path))
      .filter((c) => !c.secure || isSecureContext(url))
      .filter((c) => allowed(c, access))
      .sort((a, b) => b.path.length - a.path.length || a.createdAt - b.createdAt)
  }

  header(url: URL, access: CookieAccess = 'all'): string {
    return this.matching(url, access)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ')
  }

  all(now = Date.now()): StoredCookie[] {
    this.#purge(now)
    return [...this.#cookies]
  }

  clear(): void {
    this.#cookies = []
  }

  #purge(now: number): void {
    this.#cookies = this.#cookies.filter((c) => c.expiresAt === undefined || c.expiresAt > now)
  }
}

function allowed(cookie: StoredCookie, access: CookieAccess): boolean {
  if (access === 'all') return true
  const policy = cookie.sameSite ?? 'Lax'
  if (access === 'lax') return policy !== 'Strict'
  return policy === 'None'
}
