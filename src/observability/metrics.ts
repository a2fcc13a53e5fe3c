import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RevocationJobOutcome, RevocationMetrics } from '../session/revocation-queue.js'
import type { CacheLookup } from '../session/session-cache.js'
import type { RefreshMetrics, RefreshOutcome } from '../session/token-refresher.js'
import { HotHistogram, type HotSeries } from './hot-histogram.js'

/** Why a session ended; a fixed set, so label cardinality stays bounded. */
export type SessionEndReason =
  | 'logout'
  | 'logout_all'
  | 'backchannel'
  | 'idle_timeout'
  | 'absolute_timeout'
  | 'refresh_refused'
  | 'replaced'

const CIRCUIT_STATE_VALUES = { closed: 0, half_open: 1, open: 2 } as const

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Every metric the broker exports. Labels are reasons, outcomes, route prefixes, status
 * codes and operation names only: never a user id, token or session id.
 * Each broker has its own registry, so several brokers in one process do not collide.
 */
export class BffMetrics implements RefreshMetrics, RevocationMetrics {
  readonly registry = new Registry()
  readonly loginsStarted = this.#counter(
    'bff_logins_started_total',
    'Sign-ins started at /auth/login',
  )
  readonly loginsCompleted = this.#counter(
    'bff_logins_completed_total',
    'Sign-ins completed at /auth/callback',
  )
  readonly loginFailures = this.#counter(
    'bff_login_failures_total',
    'Sign-ins that failed, by stage and reason',
    ['stage', 'reason'],
  )
  readonly silentLogins = this.#counter(
    'bff_silent_logins_total',
    'Silent sign-ins (prompt=none) by the outcome the app was sent back with',
    ['outcome'],
  )
  readonly refreshes = this.#counter('bff_refresh_total', 'Access token refreshes by outcome', [
    'outcome',
  ])
  readonly lockWait = new Histogram({
    name: 'bff_refresh_lock_wait_seconds',
    help: 'Time a request waited for another holder of the refresh lock',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  })
  readonly proxyRequests = new Counter({
    name: 'bff_proxy_requests_total',
    help: 'Proxied /api requests by route and status',
    labelNames: ['route', 'status'],
    registers: [this.registry],
    // Counted per request in plain numbers (see `proxied`), added up here when scraped.
    collect: () => this.#flushProxyCounts(),
  })
  readonly proxyDuration = new HotHistogram({
    name: 'bff_proxy_request_duration_seconds',
    help: 'Time from receiving an /api request to the upstream response headers',
    labelNames: ['route'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  })
  readonly storeErrors = this.#counter(
    'bff_store_errors_total',
    'Session store operations that failed',
    ['operation'],
  )
  readonly storeDuration = new Histogram({
    name: 'bff_store_operation_duration_seconds',
    help: 'Session store operation latency',
    labelNames: ['operation'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  })
  readonly sessionsCreated = this.#counter(
    'bff_sessions_created_total',
    'Sessions created at sign-in',
  )
  readonly sessionsEnded = this.#counter('bff_sessions_ended_total', 'Sessions ended, by reason', [
    'reason',
  ])
  /**
   * Counted in plain numbers on every proxied request (a prom-client `inc` costs a label hash
   * and a map write), added to their counters when scraped.
   */
  readonly #pendingCacheLookups: Record<CacheLookup, number> = { hit: 0, miss: 0, off: 0 }
  #pendingLaneRequests = 0
  readonly sessionCache = new Counter({
    name: 'bff_session_cache_lookups_total',
    help: 'Session lookups by use of the per-instance cache: hit, miss, or off (feed not live)',
    labelNames: ['result'],
    registers: [this.registry],
    collect: () => {
      const pending = this.#pendingCacheLookups
      for (const result of ['hit', 'miss', 'off'] as const) {
        if (pending[result] === 0) continue
        this.sessionCache.inc({ result }, pending[result])
        pending[result] = 0
      }
    },
  })
  readonly proxyLane = new Counter({
    name: 'bff_proxy_lane_requests_total',
    help: 'Proxied /api requests served by the node-level lane (session cached, token fresh, rate limit counted locally); the rest took the full route',
    registers: [this.registry],
    collect: () => {
      if (this.#pendingLaneRequests === 0) return
      this.proxyLane.inc(this.#pendingLaneRequests)
      this.#pendingLaneRequests = 0
    },
  })
  readonly tokenRevocations = this.#counter(
    'bff_token_revocations_total',
    'Token revocations (RFC 7009) by outcome: revoked, not_supported, failed, provider_unreachable, or dropped (backlog full, or still waiting at shutdown)',
    ['outcome'],
  )
  readonly tokenRevocationBacklog = new Gauge({
    name: 'bff_token_revocation_backlog',
    help: 'Token revocations waiting for their turn or in flight',
    registers: [this.registry],
  })
  readonly jwksFetches = this.#counter(
    'bff_jwks_fetches_total',
    'Fetches of the provider JWKS (first load and refetches)',
  )

  readonly circuitState = new Gauge({
    name: 'bff_circuit_state',
    help: 'State of each circuit breaker (store, provider, upstream:<route>): 0 closed, 1 half-open (probing), 2 open',
    labelNames: ['circuit'],
    registers: [this.registry],
  })
  readonly circuitTransitions = this.#counter(
    'bff_circuit_transitions_total',
    'Changes of state of each circuit breaker, by the state entered',
    ['circuit', 'to'],
  )

  readonly connectionsOpen = new Gauge({
    name: 'bff_connections_open',
    help: 'Client connections open on the server (createLimitedServer)',
    registers: [this.registry],
  })
  readonly connectionsRefused = this.#counter(
    'bff_connections_refused_total',
    'Client connections closed at once because all connections or those of the client address were at their maximum',
    ['reason'],
  )
  readonly connectionsTimedOut = this.#counter(
    'bff_connections_timed_out_total',
    'Client connections closed because the request headers, the whole request or the TLS handshake did not arrive in time',
    ['reason'],
  )

  /** Per route prefix: its duration series and its requests by status not yet scraped. */
  readonly #proxyRoutes = new Map<
    string,
    { duration: HotSeries; byStatus: Map<number, { pending: number }> }
  >()

  /** One proxied request, by route prefix and status, and its time to the upstream's headers. */
  proxied(route: string, status: number, seconds: number): void {
    let recorded = this.#proxyRoutes.get(route)
    if (!recorded) {
      recorded = { duration: this.proxyDuration.series(route), byStatus: new Map() }
      this.#proxyRoutes.set(route, recorded)
    }
    recorded.duration.observe(seconds)
    const requests = recorded.byStatus.get(status)
    if (requests) requests.pending += 1
    else recorded.byStatus.set(status, { pending: 1 })
  }

  #flushProxyCounts(): void {
    for (const [route, { byStatus }] of this.#proxyRoutes) {
      for (const [status, requests] of byStatus) {
        if (requests.pending === 0) continue
        this.proxyRequests.inc({ route, status: String(status) }, requests.pending)
        requests.pending = 0
      }
    }
  }

  #counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new Counter({ name, help, labelNames, registers: [this.registry] })
  }

  outcome(outcome: RefreshOutcome): void {
    this.refreshes.inc({ outcome })
    if (outcome === 'refused') this.sessionEnded('refresh_refused')
  }

  lockWaitMs(ms: number): void {
    this.lockWait.observe(ms / 1000)
  }

  sessionCacheLookup(result: CacheLookup): void {
    this.#pendingCacheLookups[result] += 1
  }

  /** One proxied request served by the node-level /api lane. */
  laneServed(): void {
    this.#pendingLaneRequests += 1
  }

  revocation(outcome: RevocationJobOutcome, count = 1): void {
    this.tokenRevocations.inc({ outcome }, count)
  }

  revocationBacklog(size: number): void {
    this.tokenRevocationBacklog.set(size)
  }

  circuitTransition(circuit: string, to: 'closed' | 'half_open' | 'open'): void {
    this.circuitState.set({ circuit }, CIRCUIT_STATE_VALUES[to])
    this.circuitTransitions.inc({ circuit, to })
  }

  sessionEnded(reason: SessionEndReason, count = 1): void {
    if (count > 0) this.sessionsEnded.inc({ reason }, count)
  }
}
