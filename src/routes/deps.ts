import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import type { Clock } from '../lib/clock.js'
import type { SessionDeps } from '../middleware/require-session.js'
import type { SecurityHeaderOptions } from '../middleware/security-headers.js'
import type { BffMetrics } from '../observability/metrics.js'
import type { OidcClient } from '../oidc/client.js'
import type { LogoutTokenVerifier } from '../oidc/logout-token.js'
import type { RequestLimiter } from '../rate-limit/rate-limiter.js'
import type { Circuits } from '../resilience/circuits.js'
import type { ClientTokenService } from '../session/client-token.js'
import type { LiveExchanges } from '../session/live-exchanges.js'
import type { RevocationQueue } from '../session/revocation-queue.js'
import type { TokenExchangeService } from '../session/token-exchange.js'
import type { TransactionCookie } from '../session/transaction-cookie.js'
import type { StoreSet } from '../store/interfaces.js'

/** Everything a route needs, built once by createBff. */
export interface RouteDeps extends SessionDeps {
  config: BffConfig
  publicOrigin: string
  /** Every store, behind metrics, spans and the store's circuit. */
  stores: StoreSet
  oidc: OidcClient
  logoutTokens: LogoutTokenVerifier
  txCookie: TransactionCookie
  clock: Clock
  logger: Logger
  metrics: BffMetrics
  securityHeaders: SecurityHeaderOptions
  /** RFC 7009 revocations, a bounded number at a time, off the request path. */
  revocations: RevocationQueue
  /** Per-session limit on /api (null: off); a BatchedRateLimiter in createBff. */
  apiRateLimit: RequestLimiter | null
  /** The broker's own client-credentials tokens (`client` routes). */
  clientTokens: ClientTokenService
  /** The sessions' exchanged tokens (`token_exchange` routes, RFC 8693). */
  exchanges: TokenExchangeService
  /** Open WebSockets and streamed answers by session, ended when their session ends. */
  live: LiveExchanges
  /** Circuit breakers of the store, the provider and each upstream. */
  circuits: Circuits
}
