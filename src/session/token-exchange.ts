import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import { BffError, toBffError } from '../errors/bff-error.js'
import { providerAnswer, providerErrorCode } from '../errors/translate.js'
import type { Clock } from '../lib/clock.js'
import { ACCESS_TOKEN_TYPE, type OidcClient, type TokenResponse } from '../oidc/client.js'
import { classifyExchangeFailure } from '../oidc/refresh-policy.js'
import type { UpstreamRoute } from '../proxy/upstreams.js'
import { CircuitOpenError } from '../resilience/circuit-open-error.js'
import type { LockStore } from '../store/interfaces.js'
import type { AccessTokenService } from './access-token.js'
import { NOTHING_SETTLED, RefreshLock } from './refresh-lock.js'
import type { SessionService } from './session-service.js'
import { accessTokenFrom, isUsable, liveResources, needsRefresh, tokenFor } from './tokens.js'
import type { AccessToken, ActiveSession, StoredSession } from './types.js'

/** Margin above the provider timeouts: the lock must outlive the calls it guards. */
const LOCK_MARGIN_MS = 2000
/**
 * A subject token this young that the provider refuses is not refreshed to retry (it was just
 * obtained, not revoked since): so a provider that refuses every exchange costs at most one
 * forced refresh per session this often, not one per request.
 */
export const FRESH_SUBJECT_MS = 10_000

/** What a token_exchange route needs: its audience (RFC 8707 resource and/or RFC 8693 audience). */
export type ExchangeRoute = Pick<UpstreamRoute, 'prefix' | 'resource' | 'audience'>

export interface TokenExchangeDeps {
  config: BffConfig
  sessions: SessionService
  oidc: OidcClient
  clock: Clock
  logger: Logger
  locks: LockStore
  /** The user's own access token, refreshed when due: the exchange's subject token. */
  tokens: AccessTokenService
}

/**
 * Where a route's exchanged token is kept in the session's token set (beside the RFC 8707
 * resource tokens, so it is encrypted, bound to its name and dropped once expired like them).
 * Named by the exchange's whole audience, resource and audience both, and starting with `#`,
 * which no resource URI can (RFC 8707 §2: no fragment, a scheme first): a refresh-grant token
 * for a resource and an exchanged one are never the same entry, nor are two routes' exchanges
 * that differ in audience.
 */
export function exchangeKey(route: Pick<ExchangeRoute, 'resource' | 'audience'>): string {
  return `#exchange ${JSON.stringify([route.resource ?? null, route.audience ?? null])}`
}

/**
 * RFC 8693 token exchange for `token_exchange` routes: the session's own fresh access token (the
 * subject token, refreshed first when due) is exchanged for one for the route's audience, which
 * is kept per session and audience in the encrypted token set and reused until near expiry.
 *
 * Single flight on two levels, as the refresh: requests of one session in this process share one
 * attempt; across instances the token's own store lock lets one holder exchange while the others
 * wait and then read what it stored. An exchange spends no refresh token, so it does not hold the
 * session's refresh lock while it calls the provider (a slow exchange never holds up the user's
 * own refresh); it takes that lock only around writing its token, because every write of the
 * token set is made under it: a refresh's compare-and-set can then never lose a rotated refresh
 * token to a concurrent exchange's write. Locks are taken in the order token lock, then session
 * lock, as the refresh takes them.
 */
export class TokenExchangeService {
  readonly #deps: TokenExchangeDeps
  readonly #bufferMs: number
  readonly #lock: RefreshLock
  readonly #inFlight = new Map<string, Promise<AccessToken>>()
  /** Each route's key, built once (a route is one object for the broker's life). */
  readonly #keys = new WeakMap<ExchangeRoute, string>()

  constructor(deps: TokenExchangeDeps) {
    this.#deps = deps
    this.#bufferMs = deps.config.refreshBufferSeconds * 1000
    // The holder may refresh the subject token first, then exchange: two provider calls.
    this.#lock = new RefreshLock(
      deps.locks,
      2 * deps.config.providerTimeoutSeconds * 1000 + LOCK_MARGIN_MS,
    )
  }

  /** The route's exchanged token when the session holds one not yet due; undefined otherwise. */
  withoutExchange(session: ActiveSession, route: ExchangeRoute): AccessToken | undefined {
    return this.#fresh(session.record, this.#keyOf(route))
  }

  /** A fresh exchanged token for the route: stored by another holder, or exchanged now. */
  exchanged(session: ActiveSession, route: ExchangeRoute): Promise<AccessToken> {
    const key = this.#keyOf(route)
    const name = `${session.key} ${key}`
    let flight = this.#inFlight.get(name)
    if (!flight) {
      flight = this.#exchangeOnce(session.key, route, key).finally(() =>
        this.#inFlight.delete(name),
      )
      this.#inFlight.set(name, flight)
    }
    return flight
  }

  #keyOf(route: ExchangeRoute): string {
    let key = this.#keys.get(route)
    if (key === undefined) {
      key = exchangeKey(route)
      this.#keys.set(route, key)
    }
    return key
  }

  #due(token: AccessToken): boolean {
    return needsRefresh(token, this.#deps.clock.now(), this.#bufferMs)
  }

  #fresh(record: StoredSession, key: string): AccessToken | undefined {
    const token = tokenFor(record.tokens, key)
    return token && !this.#due(token) ? token : undefined
  }

  #usable(record: StoredSession, key: string): AccessToken | undefined {
    const token = tokenFor(record.tokens, key)
    return token && isUsable(token, this.#deps.clock.now()) ? token : undefined
  }

  async #reload(sessionKey: string): Promise<StoredSession> {
    const record = await this.#deps.sessions.reload(sessionKey)
    if (!record) throw new BffError('session_expired', { detail: 'session gone during exchange' })
    return record
  }

  /** Takes the token's lock or waits for its holder; bounded by the lock TTL, then 503. */
  async #exchangeOnce(sessionKey: string, route: ExchangeRoute, key: string) {
    return this.#lock.heldOrSettled(
      `${sessionKey}#${key}`,
      async (waited) => {
        // Re-read every round: another request or instance may have exchanged meanwhile.
        const current = await this.#reload(sessionKey)
        const fresh = this.#fresh(current, key)
        if (fresh) return fresh
        // The holder failed; the stored token still works, so use it rather than ask again.
        const usable = this.#usable(current, key)
        if (waited && usable) return usable
        const circuit = this.#deps.oidc.tokenCircuit
        if (circuit?.refusing) {
          if (usable) return usable
          throw new CircuitOpenError('provider_unavailable', circuit)
        }
        return undefined
      },
      async () => {
        // Read again after taking the lock, in case it was stored underneath us.
        const latest = await this.#reload(sessionKey)
        return this.#fresh(latest, key) ?? (await this.#exchange(sessionKey, latest, route, key))
      },
    )
  }

  /** With the token's lock held: exchange the user's fresh token, then store the result. */
  async #exchange(
    sessionKey: string,
    latest: StoredSession,
    route: ExchangeRoute,
    key: string,
  ): Promise<AccessToken> {
    const session: ActiveSession = { key: sessionKey, record: latest }
    let response: TokenResponse
    try {
      response = await this.#call(session, route)
    } catch (error) {
      const usable = this.#usable(session.record, key)
      // Session ended (the refresh of a refused subject token was refused), store down, or an
      // outage with no valid token: as thrown. An outage with a valid token: that token.
      if (usable && error instanceof BffError && error.code === 'provider_unavailable') {
        return usable
      }
      throw error
    }
    const token = accessTokenFrom(
      response,
      this.#deps.clock.now(),
      this.#deps.config.defaultAccessTokenLifetimeSeconds,
    )
    await this.#store(sessionKey, key, token).catch((error: unknown) => {
      // The session is gone: nothing may be forwarded for it. Anything else (the store down, the
      // lock not free in time): the token was spent on nothing, so it is used for this request.
      if (error instanceof BffError && error.code === 'session_expired') throw error
      this.#deps.logger.warn(
        { event: 'token_exchange.not_stored', reason: toBffError(error).code },
        'exchanged token not stored; used once',
      )
    })
    this.#deps.logger.info(
      { event: 'token_exchange.succeeded', route: route.prefix },
      'access token for a route obtained by token exchange',
    )
    return token
  }

  /**
   * The exchange, with its failure policy (refresh-policy.ts): a refused subject token is
   * refreshed once and exchanged again; every other refusal becomes its coded error here.
   */
  async #call(session: ActiveSession, route: ExchangeRoute): Promise<TokenResponse> {
    let subject = await this.#deps.tokens.fresh(session)
    for (let attempt = 1; ; attempt++) {
      try {
        return checked(
          await this.#deps.oidc.exchange({
            subjectToken: subject.accessToken,
            resource: route.resource,
            audience: route.audience,
            dpopKey: session.record.tokens.dpopKey,
          }),
        )
      } catch (error) {
        if (error instanceof BffError) throw error
        const kind = classifyExchangeFailure(error)
        if (kind !== 'subject_refused') throw this.#refusal(route, error, kind)
        const age = this.#deps.clock.now() - subject.obtainedAt
        const renewable = session.record.tokens.refreshToken !== undefined
        if (attempt === 1 && renewable && age >= FRESH_SUBJECT_MS) {
          // RFC 8693 §2.2.2: the subject token may be revoked before it expires. A refresh
          // refused in turn ends the session (session_expired, by the refresh rules).
          subject = await this.#deps.tokens.refreshed(session, undefined, {
            replacing: subject.accessToken,
          })
          continue
        }
        // A fresh (or irreplaceable) subject token refused: this user may not have the token
        // (invalid_grant), or the request or the provider's policy is refused (invalid_request).
        const refusal = providerErrorCode(error) === 'invalid_request'
        throw this.#refusal(route, error, refusal ? 'refused' : 'forbidden')
      }
    }
  }

  #refusal(
    route: ExchangeRoute,
    error: unknown,
    kind: ReturnType<typeof classifyExchangeFailure>,
  ): BffError {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    const log = { event: 'token_exchange.refused', route: route.prefix, kind }
    const answer = providerAnswer(error)
    if (kind === 'transient') {
      this.#deps.logger.warn(
        { ...log, event: 'token_exchange.transient_error', ...answer, detail },
        'token exchange failed; session kept',
      )
      const retryAfterSeconds = this.#deps.oidc.tokenCircuit?.retryAfterSeconds
      return new BffError('provider_unavailable', { detail, cause: error, retryAfterSeconds })
    }
    if (kind === 'client_rejected') {
      this.#deps.logger.error(
        { ...log, ...answer, detail },
        'the provider refused the broker client on token exchange (check its registration); session kept',
      )
      return new BffError('provider_rejected_client', { detail, cause: error })
    }
    if (kind === 'refused') {
      this.#deps.logger.error(
        { ...log, ...answer, detail },
        'the provider refused the token exchange: allow it for this client and audience; session kept',
      )
      return new BffError('token_exchange_refused', { detail, cause: error })
    }
    this.#deps.logger.warn(
      { ...log, ...answer, detail },
      'the provider refused this user a token for the route; session kept',
    )
    return new BffError('token_exchange_forbidden', { detail, cause: error })
  }

  /**
   * Stores the token under the session's refresh lock (see the class), merged into the token set
   * as it is then.
   */
  async #store(sessionKey: string, key: string, token: AccessToken): Promise<void> {
    await this.#lock.heldOrSettled(sessionKey, NOTHING_SETTLED, async () => {
      const current = await this.#reload(sessionKey)
      const now = this.#deps.clock.now()
      const resources = { ...liveResources(current.tokens, now), [key]: token }
      const data = { ...current, tokens: { ...current.tokens, resources } }
      const written = await this.#deps.sessions.replace({ key: sessionKey, record: current }, data)
      if (!written) {
        this.#deps.logger.warn(
          { event: 'token_exchange.not_stored' },
          'exchanged token not stored (the session changed under the lock); used once',
        )
      }
    })
  }
}

/**
 * RFC 8693 §2.2.1: the answer must be an access token (asked with requested_token_type). A
 * provider that omits issued_token_type is taken at its word; one that names another type
 * (a refresh, ID or SAML token) has not given the upstream anything it can use.
 */
function checked(response: TokenResponse): TokenResponse {
  const issued = (response as { issued_token_type?: unknown }).issued_token_type
  if (issued !== undefined && issued !== ACCESS_TOKEN_TYPE) {
    throw new BffError('token_exchange_refused', {
      detail: `the exchange issued ${String(issued).slice(0, 100)}, not an access token`,
    })
  }
  return response
}
