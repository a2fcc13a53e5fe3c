import { BffError } from '../errors/bff-error.js'

export interface UpstreamRoute {
  prefix: string
  upstream: URL
  /** The upstream's base path without a trailing slash ('' for the root). */
  basePath: string
}

/**
 * Where one request goes: scheme, host and port always from configuration, and a path
 * built from the configured base path and the checked remainder. Plain fields, so the proxy
 * hands them to `http.request` without building and re-reading a URL per request.
 */
export class UpstreamTarget {
  readonly secure: boolean
  readonly hostname: string
  readonly port: number
  /** host[:port] as configured, for log lines. */
  readonly host: string
  /** Path and query, percent-encoded. */
  readonly path: string
  /** scheme://host[:port], as configured. */
  readonly origin: string

  constructor(upstream: URL, path: string) {
    this.secure = upstream.protocol === 'https:'
    // URL keeps IPv6 hosts bracketed; http.request wants them bare.
    this.hostname = upstream.hostname.replace(/^\[(.*)\]$/, '$1')
    this.port = Number(upstream.port) || (this.secure ? 443 : 80)
    this.host = upstream.host
    this.path = path
    this.origin = upstream.origin
  }

  get href(): string {
    return `${this.origin}${this.path}`
  }
}

export interface UpstreamMatch {
  route: UpstreamRoute
  target: UpstreamTarget
}

/** What a parsed URL leaves in a path or query: printable ASCII, no spaces (RFC 3986). */
const URL_CHARACTERS = /^[\x21-\x7e]*$/

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
      .map((r) => {
        const upstream = new URL(r.upstream)
        const basePath = upstream.pathname.endsWith('/')
          ? upstream.pathname.slice(0, -1)
          : upstream.pathname
        return { prefix: r.prefix, upstream, basePath }
      })
      .sort((a, b) => b.prefix.length - a.prefix.length)
  }

  /** The configured prefix a path falls under (a bounded metrics label), or 'unmatched'. */
  routeOf(path: string): string {
    return (
      this.#routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`))?.prefix ??
      'unmatched'
    )
  }

  /**
   * The upstream target for a request path and query as a URL parser left them (dot segments
   * resolved, percent-encoded), or null for no route. Scheme, host and port come only from
   * configuration, so nothing in the path can change where the request goes; the remainder
   * is checked for escapes, and anything that is not URL characters is refused.
   */
  resolve(path: string, search: string): UpstreamMatch | null {
    const route = this.#routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`))
    if (!route) return null
    const remainder = path.slice(route.prefix.length)
    checkRemainder(remainder)
    if (!URL_CHARACTERS.test(remainder) || !URL_CHARACTERS.test(search)) {
      throw new BffError('invalid_path', { detail: 'path or query not percent-encoded' })
    }
    if (search !== '' && !search.startsWith('?')) {
      throw new BffError('invalid_path', { detail: 'malformed query' })
    }
    const requestPath = `${route.basePath}${remainder}` || '/'
    return {
      route,
      target: new UpstreamTarget(route.upstream, `${requestPath}${search === '?' ? '' : search}`),
    }
  }
}
