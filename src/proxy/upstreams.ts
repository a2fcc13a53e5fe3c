import { BffError } from '../errors/bff-error.js'

export interface UpstreamRoute {
  prefix: string
  upstream: URL
}

export interface UpstreamMatch {
  route: UpstreamRoute
  target: URL
}

/** Characters never allowed in a forwarded path, raw or once decoded. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/
/** Encoded dot, slash or backslash surviving one decoding: double encoding aimed at the upstream. */
const ENCODED_SEPARATOR = /%(2e|2f|5c)/i

/**
 * Checks the part of the path after the mount prefix. The request URL is already
 * dot-normalised by the URL parser, so what remains are encoded escapes (`..%2f`, `%2e%2e`,
 * `%252e`), empty segments (`//host`) and control characters: all refused, not repaired.
 */
export function checkRemainder(remainder: string): void {
  if (remainder === '' || remainder === '/') return
  if (!remainder.startsWith('/') || remainder.includes('//') || FORBIDDEN.test(remainder)) {
    throw new BffError('invalid_path', { detail: 'malformed proxied path' })
  }
  for (const segment of remainder.slice(1).split('/')) {
    let decoded: string
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      throw new BffError('invalid_path', { detail: 'undecodable path segment' })
    }
    if (
      decoded === '.' ||
      decoded === '..' ||
      /[/\\]/.test(decoded) ||
      FORBIDDEN.test(decoded) ||
      ENCODED_SEPARATOR.test(decoded)
    ) {
      throw new BffError('invalid_path', { detail: 'path escape attempt' })
    }
  }
}

/** The route table: longest prefix wins; the prefix is replaced by the upstream base URL. */
export class UpstreamTable {
  readonly #routes: UpstreamRoute[]

  constructor(routes: readonly { prefix: string; upstream: string }[]) {
    this.#routes = routes
      .map((r) => ({ prefix: r.prefix, upstream: new URL(r.upstream) }))
      .sort((a, b) => b.prefix.length - a.prefix.length)
  }

  /** The configured prefix a path falls under (a bounded metrics label), or 'unmatched'. */
  routeOf(path: string): string {
    return (
      this.#routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`))?.prefix ??
      'unmatched'
    )
  }

  /** The upstream URL for a request path (raw, percent-encoded) and query, or null for no route. */
  resolve(path: string, search: string): UpstreamMatch | null {
    const route = this.#routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`))
    if (!route) return null
    const remainder = path.slice(route.prefix.length)
    checkRemainder(remainder)
    const target = new URL(route.upstream.href)
    const base = target.pathname.endsWith('/') ? target.pathname.slice(0, -1) : target.pathname
    // Assigning the pathname keeps scheme, host and port from configuration whatever the path holds.
    target.pathname = `${base}${remainder}` || '/'
    target.search = search
    if (target.origin !== route.upstream.origin)
      throw new BffError('invalid_path', { detail: 'origin changed' })
    return { route, target }
  }
}
