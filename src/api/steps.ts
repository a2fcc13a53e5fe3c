import { BffError } from '../errors/bff-error.js'
import type { Clock } from '../lib/clock.js'
import { apiCsrfRefusal, type CsrfOptions } from '../middleware/csrf.js'
import {
  type SessionDeps,
  sessionFromMemory,
  sessionFromStore,
} from '../middleware/require-session.js'
import { type DpopKeys, isDpopBound } from '../oidc/dpop.js'
import { meetsDemand, stepUpRequired } from '../oidc/login-demands.js'
import type { InFlightLimit } from '../proxy/in-flight.js'
import type { UpstreamRoute, UpstreamTable } from '../proxy/upstreams.js'
import type { RequestLimiter } from '../rate-limit/rate-limiter.js'
import type { ClientTokenService } from '../session/client-token.js'
import type { TokenExchangeService } from '../session/token-exchange.js'
import type { AccessToken, ActiveSession } from '../session/types.js'
import { type AdmissionState, type AdmissionStep, NEEDS_IO } from './admission.js'

const REFUSED_METHODS = new Set(['TRACE', 'CONNECT'])

export interface StepDeps extends SessionDeps {
  csrf: CsrfOptions
  table: UpstreamTable
  inFlight: InFlightLimit
  /** Per-session limit on /api (null: off). */
  rateLimit: RequestLimiter | null
  /** The scopes the broker asks for: what a token response without `scope` granted. */
  grantedScopes: readonly string[]
  /** The broker's own client-credentials tokens (`client` routes). */
  clientTokens: ClientTokenService
  /** The session's exchanged tokens (`token_exchange` routes, RFC 8693). */
  exchanges: TokenExchangeService
  clock: Clock
  /** Sessions' DPoP keys (a DPoP-bound token goes upstream with a proof). */
  dpopKeys: DpopKeys
}

/** A field an earlier step has set (the order below guarantees it). */
function needs<K extends keyof AdmissionState>(
  state: AdmissionState,
  key: K,
): NonNullable<AdmissionState[K]> {
  const value = state[key]
  if (value === undefined) throw new BffError('internal', { detail: `admission: no ${key} yet` })
  return value as NonNullable<AdmissionState[K]>
}

/**
 * The /api policy, in order: CSRF (refused before anything else is looked at), method, route
 * (and the path's checks), session (by the route's token kind), the session's slot among its
 * requests in progress, its rate limit, the route's claim and step-up demands (before any
 * token is obtained for a user they refuse), a fresh access token of the route's kind, and the scopes
 * the route demands of that token. A WebSocket handshake takes the same steps, with its own
 * CSRF rule (Origin) and the route's `websocket` option.
 */
export function apiSteps(deps: StepDeps): AdmissionStep[] {
  return [
    {
      name: 'csrf',
      now({ request }) {
        const refusal = apiCsrfRefusal(request.header, deps.csrf, request.webSocket)
        if (refusal) throw new BffError('csrf_failed', { detail: refusal })
        return undefined
      },
    },
    {
      name: 'method',
      now({ request }) {
        if (REFUSED_METHODS.has(request.method)) throw new BffError('method_not_allowed')
        // RFC 6455 §4.1: the opening handshake is a GET.
        if (request.webSocket && request.method !== 'GET') throw new BffError('method_not_allowed')
        return undefined
      },
    },
    {
      name: 'route',
      now(state) {
        const match = deps.table.resolve(state.request.path, state.request.search)
        if (!match) throw new BffError('not_found', { detail: 'no upstream for this prefix' })
        if (state.request.webSocket && !match.route.websocket) {
          throw new BffError('websocket_disabled', { detail: match.route.prefix })
        }
        state.match = match
        return undefined
      },
    },
    {
      name: 'session',
      now(state) {
        const kind = needs(state, 'match').route.token
        if (kind === 'none') return undefined
        const raw = state.request.cookie
        if (!raw) {
          if (kind === 'user-optional') return undefined
          throw new BffError('unauthenticated')
        }
        const session = sessionFromMemory(raw, deps)
        if (!session) return NEEDS_IO
        state.session = session
        state.sessionFromMemory = true
        return undefined
      },
      async later(state, io) {
        const raw = state.request.cookie ?? ''
        try {
          state.session = await sessionFromStore(raw, deps, () => io.clearCookie())
        } catch (error) {
          // A public page stays public for a browser whose session has ended.
          const signedOut = error instanceof BffError && error.status === 401
          if (!signedOut || needs(state, 'match').route.token !== 'user-optional') throw error
        }
      },
    },
    {
      name: 'in-flight',
      takes: true,
      now(state) {
        const { inFlight } = deps
        if (!state.session) return undefined
        const release = inFlight.acquire(state.session.key)
        if (!release) {
          throw new BffError('too_many_in_flight', {
            detail: `${inFlight.max} requests of this session in progress`,
            retryAfterSeconds: 1,
          })
        }
        state.release = release
        return undefined
      },
      undo(state) {
        state.release?.()
      },
    },
    {
      name: 'rate-limit',
      takes: true,
      now(state) {
        const limiter = deps.rateLimit
        if (!limiter || !state.session) return undefined
        return limiter.countWithoutStore?.(state.session.key) ? undefined : NEEDS_IO
      },
      async later(state) {
        await deps.rateLimit?.count(needs(state, 'session').key)
      },
    },
    {
      name: 'claims',
      now(state) {
        const refusal = claimsRefusal(state)
        if (refusal) throw new BffError('forbidden', { detail: refusal })
        return undefined
      },
    },
    {
      name: 'step-up',
      now(state) {
        const { stepUp } = needs(state, 'match').route
        if (!stepUp) return undefined
        const { record } = needs(state, 'session')
        if (!meetsDemand(record, stepUp, deps.clock.now())) throw stepUpRequired(stepUp)
        return undefined
      },
    },
    {
      // The token the upstream gets. `client`: the broker's own, shared by every instance (the
      // session step has already required a signed-in user: the broker's machine identity is
      // never anyone's from the internet). Otherwise the session's: its own, or with the
      // route's `resource` its token for that audience (RFC 8707), or on a `token_exchange`
      // route one exchanged for the route's audience (RFC 8693); none without a session.
      name: 'token',
      now(state) {
        const { route } = needs(state, 'match')
        const token =
          route.token === 'client'
            ? deps.clientTokens.withoutFetch(route)
            : state.session && sessionTokenWithoutIo(deps, state.session, route)
        if (token !== undefined) {
          state.tokens = token
          bindProof(state, deps.dpopKeys)
          return undefined
        }
        return route.token === 'client' || state.session ? NEEDS_IO : undefined
      },
      async later(state) {
        const { route } = needs(state, 'match')
        state.tokens =
          route.token === 'client'
            ? await deps.clientTokens.fetched(route)
            : await sessionToken(deps, needs(state, 'session'), route)
        bindProof(state, deps.dpopKeys)
      },
    },
    {
      name: 'scopes',
      now(state) {
        const refusal = scopesRefusal(state, deps.grantedScopes)
        if (refusal) throw new BffError('forbidden', { detail: refusal })
        return undefined
      },
    },
  ]
}

/** The session's token for the route when it needs no provider call, else undefined. */
function sessionTokenWithoutIo(
  deps: StepDeps,
  session: ActiveSession,
  route: UpstreamRoute,
): AccessToken | undefined {
  return route.grant === 'token_exchange'
    ? deps.exchanges.withoutExchange(session, route)
    : deps.tokens.withoutRefresh(session, route.resource)
}

/** The session's token for the route, refreshed or exchanged. */
function sessionToken(
  deps: StepDeps,
  session: ActiveSession,
  route: UpstreamRoute,
): Promise<AccessToken> {
  return route.grant === 'token_exchange'
    ? deps.exchanges.exchanged(session, route)
    : deps.tokens.refreshed(session, route.resource)
}

/** A DPoP-bound token (RFC 9449) goes upstream with a proof of the session's key. */
function bindProof(state: AdmissionState, keys: DpopKeys): void {
  const key = state.session?.record.tokens.dpopKey
  if (key !== undefined && state.tokens && isDpopBound(state.tokens.tokenType)) {
    state.dpop = keys.of(key)
  }
}

/** Why the route's scope demands refuse the token the upstream would get, or undefined. */
function scopesRefusal(state: AdmissionState, requested: readonly string[]): string | undefined {
  const { scopes } = needs(state, 'match').route
  if (scopes.length === 0) return undefined
  // RFC 6749 §5.1: a token response without `scope` granted what was asked.
  const granted = new Set(state.tokens?.scope?.split(' ') ?? requested)
  const missing = scopes.find((scope) => !granted.has(scope))
  return missing ? `scope ${missing} not granted` : undefined
}

/** Why the route's claim demands refuse this session, or undefined. */
function claimsRefusal(state: AdmissionState): string | undefined {
  const { claims } = needs(state, 'match').route
  if (Object.keys(claims).length === 0) return undefined
  const held = state.session?.record.claims ?? {}
  for (const [name, wanted] of Object.entries(claims)) {
    const accepted = typeof wanted === 'string' ? [wanted] : wanted
    const value = held[name]
    const values = Array.isArray(value) ? value : [value]
    if (!values.some((v) => typeof v === 'string' && accepted.includes(v))) {
      return `claim ${name} does not match`
    }
  }
  return undefined
}
