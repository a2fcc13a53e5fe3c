import { BffError } from '../errors/bff-error.js'
import type { StepUpDemand } from '../oidc/login-demands.js'
import { FORWARDED_REQUEST_HEADERS } from './headers.js'
import { checkRemainder } from './path-segments.js'

export interface UpstreamRoute {
  prefix: string
  upstream: URL
  /** The upstream's base path without a trailing slash ('' for the root). */
  basePath: string
  /** Browser request headers this upstream gets: the default allow-list and the route's own. */
  forwardHeaders: readonly string[]
  /** Request bodies stream as they arrive instead of being read completely first. */
  stream: boolean
  /** Which access token the upstream gets (see config/schema.ts). */
  token: ApiTokenKind
  /** Scopes asked for on the client-credentials grant (`client` routes). */
  clientScopes: readonly string[]
  /** RFC 8707: the audience of the token the upstream gets, when not the default one. */
  resource: string | undefined
  /** How a user route's token for `resource`/`audience` is obtained (see config/schema.ts). */
  grant: RouteGrant
  /** RFC 8693 §2.1 logical audience of an exchanged token (`token_exchange` routes). */
  audience: string | undefined
  /** Granted scopes the token the upstream gets must have. */
  scopes: readonly string[]
  /** ID token claims the session must have: a value, or any of several. */
  claims: Readonly<Record<string, string | readonly string[]>>
  /** This upstream's own timeout, when it has one. */
  timeoutMs: number | undefined
  /** WebSocket handshakes are proxied to this upstream (routes/api-upgrade.ts). */
  websocket: boolean
  /** Step-up: the session's sign-in must have one of these acr values, or be this recent. */
  stepUp: StepUpDemand | undefined
}

/** UpstreamTable.routeOf's answer for a path under no configured prefix. */
export const UNMATCHED = 'unmatched'

/** Which access token a route's upstream gets (see config/schema.ts). */
export const API_TOKEN_KINDS = ['user', 'user-optional', 'client', 'none'] as const
export type ApiTokenKind = (typeof API_TOKEN_KINDS)[number]
export type RouteGrant = 'refresh_token' | 'token_exchange'

/**
 * Whether the sign-in asks for this route's resource (RFC 8707 §2.1): a user route's, whose
 * token comes from the session's refresh token. An exchanged token's audience is the exchange's
 * to name; a client route's token is the broker's own.
 */
export function signInAsksFor(
  route: Pick<UpstreamRouteConfig, 'token' | 'grant' | 'resource'>,
): boolean {
  const token = route.token ?? 'user'
  return (
    route.resource !== undefined &&
    (route.grant ?? 'refresh_token') === 'refresh_token' &&
    (token === 'user' || token === 'user-optional')
  )
}

/** A route as configured (see config/schema.ts). */
export interface UpstreamRouteConfig {
  prefix: string
  upstream: string
  forwardHeaders?: readonly string[]
  stream?: boolean
  token?: ApiTokenKind
  clientScopes?: readonly string[]
  resource?: string | undefined
  grant?: RouteGrant
  audience?: string | undefined
  scopes?: readonly string[]
  claims?: Readonly<Record<string, string | readonly string[]>>
  timeoutSeconds?: number | undefined
  websocket?: boolean
  acr?: readonly string[] | undefined
  authMaxAgeSeconds?: number | undefined
}

/**
 * Where one request goes: scheme, host and port always from configuration, and a path
 * built from the configured base path and the checked remainder. Plain fields, read once per
 * route: the proxy sends to `origin` and `path`, a WebSocket handshake (node:http, which undici cannot
 * upgrade) to `hostname` and `port`, and spans name them.
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

  constructor(upstream: UpstreamOrigin, path: string) {
    this.secure = upstream.secure
    this.hostname = upstream.hostname
    this.port = upstream.port
    this.host = upstream.host
    this.path = path
    this.origin = upstream.origin
  }

  get href(): string {
    return `${this.origin}${this.path}`
  }
}

/** A route's upstream, read from its URL once (a URL's getters build strings on every read). */
export interface UpstreamOrigin {
  secure: boolean
  hostname: string
  port: number
  host: string
  origin: string
}

function upstreamOrigin(upstream: URL): UpstreamOrigin {
  const secure = upstream.protocol === 'https:'
  return {
    secure,
    // URL keeps IPv6 hosts bracketed; node:http (the WebSocket handshake) wants them bare.
    hostname: upstream.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(upstream.port) || (secure ? 443 : 80),
    host: upstream.host,
    origin: upstream.origin,
  }
}

export interface UpstreamMatch {
  route: UpstreamRoute
  target: UpstreamTarget
}

/** What a parsed URL leaves in a path or query: printable ASCII, no spaces (RFC 3986). */
const URL_CHARACTERS = /^[\x21-\x7e]*$/

/** The route table: longest prefix wins; the prefix is replaced by the upstream base URL. */
export class UpstreamTable {
  readonly #routes: UpstreamRoute[]
  readonly #origins = new Map<UpstreamRoute, UpstreamOrigin>()

  constructor(routes: readonly UpstreamRouteConfig[]) {
    this.#routes = routes
      .map((r) => {
        const upstream = new URL(r.upstream)
        const basePath = upstream.pathname.endsWith('/')
          ? upstream.pathname.slice(0, -1)
          : upstream.pathname
        const forwardHeaders = [
          ...new Set([...FORWARDED_REQUEST_HEADERS, ...(r.forwardHeaders ?? [])]),
        ]
        return {
          prefix: r.prefix,
          upstream,
          basePath,
          forwardHeaders,
          stream: r.stream ?? false,
          token: r.token ?? 'user',
          clientScopes: r.clientScopes ?? [],
          resource: r.resource,
          grant: r.grant ?? 'refresh_token',
          audience: r.audience,
          scopes: r.scopes ?? [],
          claims: r.claims ?? {},
          timeoutMs: r.timeoutSeconds === undefined ? undefined : r.timeoutSeconds * 1000,
          websocket: r.websocket ?? false,
          stepUp:
            r.acr || r.authMaxAgeSeconds !== undefined
              ? { acr: r.acr, authMaxAgeSeconds: r.authMaxAgeSeconds }
              : undefined,
        }
      })
      .sort((a, b) => b.prefix.length - a.prefix.length)
    for (const route of this.#routes) this.#origins.set(route, upstreamOrigin(route.upstream))
  }

  /** The configured prefix a path falls under (a bounded metrics label), or UNMATCHED. */
  routeOf(path: string): string {
    return (
      this.#routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`))?.prefix ??
      UNMATCHED
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
      target: new UpstreamTarget(
        this.#origins.get(route) as UpstreamOrigin,
        `${requestPath}${search === '?' ? '' : search}`,
      ),
    }
  }
}
