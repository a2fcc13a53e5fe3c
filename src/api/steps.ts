import { BffError } from '../errors/bff-error.js'
import { apiCsrfRefusal, type CsrfOptions } from '../middleware/csrf.js'
import {
  type SessionDeps,
  sessionFromMemory,
  sessionFromStore,
} from '../middleware/require-session.js'
import type { InFlightLimit } from '../proxy/in-flight.js'
import type { UpstreamTable } from '../proxy/upstreams.js'
import type { RequestLimiter } from '../rate-limit/rate-limiter.js'
import { type AdmissionState, type AdmissionStep, NEEDS_IO } from './admission.js'

const REFUSED_METHODS = new Set(['TRACE', 'CONNECT'])

export interface StepDeps extends SessionDeps {
  csrf: CsrfOptions
  table: UpstreamTable
  inFlight: InFlightLimit
  /** Per-session limit on /api (null: off). */
  rateLimit: RequestLimiter | null
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
 * (and the path's checks), session, the session's slot among its requests in progress, its
 * rate limit, and a fresh access token.
 */
export function apiSteps(deps: StepDeps): AdmissionStep[] {
  return [
    {
      name: 'csrf',
      now({ request }) {
        const refusal = apiCsrfRefusal(request.header, deps.csrf)
        if (refusal) throw new BffError('csrf_failed', { detail: refusal })
        return undefined
      },
    },
    {
      name: 'method',
      now({ request }) {
        if (REFUSED_METHODS.has(request.method)) throw new BffError('method_not_allowed')
        return undefined
      },
    },
    {
      name: 'route',
      now(state) {
        const match = deps.table.resolve(state.request.path, state.request.search)
        if (!match) throw new BffError('not_found', { detail: 'no upstream for this prefix' })
        state.match = match
        return undefined
      },
    },
    {
      name: 'session',
      now(state) {
        const raw = state.request.cookie
        if (!raw) throw new BffError('unauthenticated')
        const session = sessionFromMemory(raw, deps)
        if (!session) return NEEDS_IO
        state.session = session
        state.sessionFromMemory = true
        return undefined
      },
      async later(state, io) {
        state.session = await sessionFromStore(needs(state, 'request').cookie ?? '', deps, () =>
          io.clearCookie(),
        )
      },
    },
    {
      name: 'in-flight',
      takes: true,
      now(state) {
        const { inFlight } = deps
        const release = inFlight.acquire(needs(state, 'session').key)
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
        if (!limiter) return undefined
        return limiter.countLocally?.(needs(state, 'session').key) ? undefined : NEEDS_IO
      },
      async later(state) {
        await deps.rateLimit?.check(needs(state, 'session').key)
      },
    },
    {
      name: 'token',
      now(state) {
        const tokens = deps.tokens.withoutRefresh(needs(state, 'session'))
        if (!tokens) return NEEDS_IO
        state.tokens = tokens
        return undefined
      },
      async later(state) {
        state.tokens = await deps.tokens.refreshed(needs(state, 'session'))
      },
    },
  ]
}
