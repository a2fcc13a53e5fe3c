import type { RequestListener } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import type { MiddlewareHandler } from 'hono'
import { Hono } from 'hono'
import type { CustomFetch } from 'openid-client'
import type { Logger } from 'pino'
import { parseOptions } from './config/parse-options.js'
import type { BffConfig, BffOptions } from './config/schema.js'
import { BffError } from './errors/bff-error.js'
import { renderErrorPage, renderJsonError } from './errors/render.js'
import { reportRequestError } from './errors/report.js'
import { trustedProxies } from './lib/client-address.js'
import { type Clock, systemClock } from './lib/clock.js'
import { limitRequestBody } from './middleware/body-limit.js'
import './middleware/context.js'
import { rateLimitByAddress } from './middleware/rate-limit.js'
import { requestId } from './middleware/request-id.js'
import { requestSpan } from './middleware/request-span.js'
import { requireSession } from './middleware/require-session.js'
import { authResponseHeaders, securityHeaders } from './middleware/security-headers.js'
import { instrumentStores } from './observability/instrument-store.js'
import { createLogger } from './observability/logger.js'
import { BffMetrics } from './observability/metrics.js'
import { inClientSpan } from './observability/tracing.js'
import { OidcClient } from './oidc/client.js'
import { LogoutTokenVerifier } from './oidc/logout-token.js'
import { BatchedRateLimiter } from './rate-limit/batched-rate-limiter.js'
import { type RateLimit, RateLimiter } from './rate-limit/rate-limiter.js'
import type { RateLimitStore } from './rate-limit/store.js'
import { createCircuits } from './resilience/circuits.js'
import { guardStores } from './resilience/guard-store.js'
import { apiRoutes } from './routes/api.js'
import type { UpgradeListener } from './routes/api-upgrade.js'
import { backchannelLogoutRoute } from './routes/backchannel-logout.js'
import { callbackRoute } from './routes/callback.js'
import type { RouteDeps } from './routes/deps.js'
import { healthRoutes } from './routes/health.js'
import { loginRoute } from './routes/login.js'
import { logoutRoute } from './routes/logout.js'
import { metricsRoute } from './routes/metrics.js'
import { signedOutRoute } from './routes/signed-out.js'
import { staticRoutes } from './routes/static.js'
import { userRoute } from './routes/user.js'
import { AccessTokenService, type RefreshMetrics } from './session/access-token.js'
import { ClientTokenService } from './session/client-token.js'
import { SessionCookie } from './session/cookie.js'
import { LiveExchanges } from './session/live-exchanges.js'
import { RevocationQueue } from './session/revocation-queue.js'
import { SessionService } from './session/session-service.js'
import { TokenCipher } from './session/token-cipher.js'
import { TokenExchangeService } from './session/token-exchange.js'
import { TransactionCookie } from './session/transaction-cookie.js'
import { createStores } from './store/create-stores.js'
import { type StoreMember, withEachStore } from './store/each-store.js'
import type { StoreSet } from './store/interfaces.js'
import { type SessionStore, StoreSetView, storeSetOf } from './store/session-store.js'

export interface BffDeps {
  /**
   * Every store the broker uses (createRedisStores, createMemoryStores, or your own). Defaults
   * to Redis when a Redis is configured, else the in-process stores.
   */
  stores?: StoreSet
  /**
   * One SessionStore instead of `stores`: a RedisSessionStore or MemorySessionStore gives its
   * set; any other store answers for every member, with in-process rate-limit counters.
   */
  store?: SessionStore
  clock?: Clock
  logger?: Logger
  /** Outgoing HTTP to the provider (tests point this at a scripted provider). */
  providerFetch?: CustomFetch
  /** Refresh outcome counters and lock wait times (the metrics endpoint plugs in here). */
  refreshMetrics?: RefreshMetrics
  /** The broker's metrics; pass one to share a registry. Defaults to a new one per broker. */
  metrics?: BffMetrics
  /** Replaces the set's rate-limit counters (by default in the sessions' Redis, else in memory). */
  rateLimitStore?: RateLimitStore
}

/** The stores from `deps`, or from configuration; rate limits live where the sessions live. */
function storesOf(deps: BffDeps, config: BffConfig, clock: Clock, logger: Logger): StoreSet {
  const stores =
    deps.stores ??
    (deps.store ? storeSetOf(deps.store, clock) : createStores(config, clock, logger))
  const { rateLimitStore } = deps
  if (!rateLimitStore) return stores
  // Not a spread: a set may be a class, whose methods a spread would drop.
  return withEachStore(stores, <S extends object>(store: S, member: StoreMember | undefined) =>
    member === 'rateLimits' ? (rateLimitStore as S) : store,
  )
}

export interface Bff {
  /** Mount with `app.route('/', bff.app)`: /auth/*, /api/*, /healthz, /readyz. */
  app: Hono
  /** For local routes: 401 JSON without a session; `c.var.bff` holds claims and `accessToken()`. */
  requireSession(): MiddlewareHandler
  config: BffConfig
  /** Every store, as the broker uses them (behind metrics, spans and the store's circuit). */
  stores: StoreSet
  /** @deprecated The same stores as one SessionStore; use `stores`. */
  store: SessionStore
  logger: Logger
  metrics: BffMetrics
  /**
   * Node's request listener for `app`, with the warm /api lane in front: a request whose
   * every /api check passes without I/O is proxied without Hono, everything else goes to
   * `app` (see routes/api-lane.ts). The standalone server uses it; `serve({ fetch: app.fetch })`
   * serves the same answers, a little slower.
   */
  nodeListener(): RequestListener
  /**
   * Node's 'upgrade' listener: WebSocket through /api on routes with `websocket` on. Attach it
   * to the server that serves `nodeListener()` or `app` (`server.on('upgrade', …)`); without
   * it no WebSocket is proxied. Every other Upgrade request is refused (400 or 404).
   */
  upgradeListener(): UpgradeListener
  /**
   * Closes every proxied WebSocket (1001, going away) and ends every streamed answer: call it
   * when the server stops taking connections (Node's `server.close()` waits for upgraded
   * sockets, which `closeAllConnections()` does not reach). `close()` does it too.
   */
  goAway(): void
  /** GET /metrics without a token, for a separate private port (see METRICS_PORT). */
  metricsApp(): Hono
  /** Checks the store and loads discovery; rejects when either is not reachable. */
  ready(): Promise<void>
  close(): Promise<void>
}

/** Builds the broker as a Hono app. No I/O happens until the first request or `ready()`. */
export function createBff(options: BffOptions | BffConfig, deps: BffDeps = {}): Bff {
  const config = parseOptions(options as BffOptions)
  const clock = deps.clock ?? systemClock
  const logger = deps.logger ?? createLogger()
  const metrics = deps.metrics ?? new BffMetrics()
  const circuits = createCircuits({ config, clock, logger, metrics })
  const stores = guardStores(
    instrumentStores(storesOf(deps, config, clock, logger), metrics),
    circuits.store,
  )
  const baseFetch: CustomFetch =
    deps.providerFetch ?? ((url, options) => fetch(url, options as RequestInit))
  // Counts JWKS fetches (openid-client's and the logout-token verifier's) for the metrics,
  // each in a span of its own (its host may not be the issuer's).
  const providerFetch: CustomFetch = (url, options) => {
    if (url !== oidc.jwksUri) return baseFetch(url, options)
    metrics.jwksFetches.inc()
    const { hostname } = new URL(url)
    return inClientSpan(
      'oidc.jwks',
      { 'server.address': hostname },
      () => baseFetch(url, options),
      () => ({ code: 'provider_unavailable' }),
    )
  }
  const oidc = new OidcClient(config, providerFetch, circuits.provider)
  const cipher =
    config.tokenEncryptionKeys.length > 0 ? new TokenCipher(config.tokenEncryptionKeys) : null
  if (!cipher && stores.kind === 'redis') {
    logger.warn(
      { event: 'config.tokens_unencrypted' },
      'no TOKEN_ENCRYPTION_KEYS: tokens are stored in Redis unencrypted',
    )
  }
  const sessions = new SessionService(config, stores, clock, {
    cipher,
    onExpired: (reason) => metrics.sessionEnded(reason),
    onCacheLookup: (result) => metrics.sessionCacheLookup(result),
  })
  const cookie = new SessionCookie(config)
  const rateStore = stores.rateLimits
  const limiter = (bucket: string, limit: RateLimit | null) =>
    limit ? new RateLimiter(rateStore, bucket, limit) : null
  // /api is the proxy's hot path: counted in batches, exact from half the limit on (see the class).
  const apiRateLimit = config.rateLimitApi
    ? new BatchedRateLimiter(rateStore, 'api', config.rateLimitApi, { clock })
    : null
  const trusted = trustedProxies(config.trustedProxies)
  const tokens = new AccessTokenService({
    config,
    sessions,
    oidc,
    clock,
    logger,
    locks: stores.locks,
    metrics: {
      outcome: (outcome) => {
        metrics.outcome(outcome)
        deps.refreshMetrics?.outcome(outcome)
      },
      lockWaitMs: (ms) => {
        metrics.lockWaitMs(ms)
        deps.refreshMetrics?.lockWaitMs(ms)
      },
    },
  })
  const revocations = new RevocationQueue({
    oidc,
    logger,
    clock,
    metrics,
    concurrency: config.revocationConcurrency,
    maxBacklog: config.revocationBacklog,
  })
  const routeDeps: RouteDeps = {
    config,
    publicOrigin: new URL(config.publicUrl).origin,
    stores,
    oidc,
    logoutTokens: new LogoutTokenVerifier(config, oidc, clock, providerFetch),
    sessions,
    cookie,
    tokens,
    txCookie: new TransactionCookie(),
    clock,
    logger,
    metrics,
    securityHeaders: {
      https: config.publicUrl.startsWith('https:'),
      // Where POST /auth/logout may redirect a form submission: a configured logout URL, and
      // with OIDC_END_SESSION_METHOD=get the end-session endpoint (taken to be on the issuer's
      // origin). The POST end-session form is a page of its own, with its own form-action.
      formActionOrigins: [
        config.logoutUrl,
        config.endSessionMethod === 'get' ? config.issuer : null,
      ]
        .filter((url): url is string => Boolean(url))
        .map((url) => new URL(url).origin),
    },
    apiRateLimit,
    revocations,
    clientTokens: new ClientTokenService({
      config,
      oidc,
      clock,
      logger,
      sharedTokens: stores.sharedTokens,
      locks: stores.locks,
      cipher,
    }),
    exchanges: new TokenExchangeService({
      config,
      sessions,
      oidc,
      clock,
      logger,
      locks: stores.locks,
      tokens,
    }),
    live: new LiveExchanges({ sessions, feed: () => stores.changes(), clock, logger }),
    circuits,
  }

  const app = new Hono()
  const api = apiRoutes(routeDeps)
  app.use('*', requestSpan())
  app.use('*', requestId(trusted))
  app.use('*', securityHeaders(routeDeps.securityHeaders))
  app.use('/auth/*', authResponseHeaders())
  const byAddress = (bucket: string, limit: RateLimit | null, render = renderErrorPage) =>
    rateLimitByAddress({ limiter: limiter(bucket, limit), trusted, render })
  app.use('/auth/login', byAddress('login', config.rateLimitLogin))
  app.use('/auth/callback', byAddress('callback', config.rateLimitCallback))
  app.use(
    '/auth/backchannel-logout',
    byAddress('backchannel', config.rateLimitBackchannel, renderJsonError),
  )
  app.route('/', loginRoute(routeDeps))
  app.route('/', callbackRoute(routeDeps))
  app.route('/', userRoute(routeDeps))
  app.route('/', logoutRoute(routeDeps))
  app.route('/', backchannelLogoutRoute(routeDeps))
  app.route('/', signedOutRoute(routeDeps))
  app.route('/', healthRoutes(routeDeps))
  app.use('/api/*', limitRequestBody(config.maxBodyBytes))
  app.route('/', api.app)
  if (config.metricsToken) app.route('/', metricsRoute(metrics.registry, config.metricsToken))
  if (config.staticDir) app.route('/', staticRoutes(config.staticDir))
  app.onError((error, c) => {
    if (error instanceof BffError && error.code === 'session_expired') cookie.clear(c)
    reportRequestError(logger, error, c.get('requestId'))
    return renderJsonError(c, error)
  })

  return {
    app,
    requireSession: () => requireSession(routeDeps),
    config,
    stores,
    store: new StoreSetView(stores),
    logger,
    metrics,
    nodeListener() {
      // A request without Host (HTTP/1.0, some load balancers' health checks) is read as
      // addressed to the public host rather than refused.
      const hono = getRequestListener(app.fetch, { hostname: new URL(config.publicUrl).host })
      return (incoming, outgoing) => {
        try {
          if (api.lane(incoming, outgoing)) return
        } catch (error) {
          // A fault in the lane's checks must not take the process down: the route decides.
          logger.error({ event: 'request.unhandled', err: error }, 'api lane failed')
        }
        void hono(incoming, outgoing)
      }
    },
    upgradeListener: () => api.upgrade,
    goAway: () => routeDeps.live.endAll('going_away'),
    metricsApp: () => metricsRoute(metrics.registry),
    async ready() {
      await stores.ping()
      for (const warning of await stores.configurationWarnings()) {
        logger.warn({ event: 'store.configuration' }, warning)
      }
      await oidc.configuration()
      if (config.checkClient && (await oidc.checkClient()) === 'unverified') {
        logger.warn(
          { event: 'startup.client_unverified' },
          'the provider answered the client check with neither invalid_grant nor invalid_client: client credentials not verified (OIDC_CHECK_CLIENT=false skips the check)',
        )
      }
    },
    async close() {
      // Queued revocations get one provider timeout (what a request in flight may take anyway);
      // what still waits then is dropped and counted: those tokens expire on their own.
      routeDeps.live.close()
      await revocations.close(config.providerTimeoutSeconds * 1000)
      // Before the store closes: the pending /api hits still reach it.
      await apiRateLimit?.close()
      await api.close()
      await stores.close()
    },
  }
}
