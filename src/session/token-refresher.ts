import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import { providerAnswer } from '../errors/translate.js'
import type { Clock } from '../lib/clock.js'
import type { OidcClient, TokenResponse } from '../oidc/client.js'
import { classifyRefreshFailure } from '../oidc/refresh-policy.js'
import { CircuitOpenError } from '../resilience/circuit-open-error.js'
import type { HeldLock } from './refresh-lock.js'
import type { SessionService } from './session-service.js'
import { accessTokenFrom, isUsable, liveResources, tokenFor, tokenSetFrom } from './tokens.js'
import type { SessionData, StoredSession, TokenSet } from './types.js'

export type RefreshOutcome =
  | 'refreshed'
  | 'coalesced_in_process'
  | 'waited_on_lock'
  | 'refused'
  | 'transient_error'
  | 'client_rejected'

/** Counters the metrics endpoint will expose; never labelled with user or session data. */
export interface RefreshMetrics {
  outcome(outcome: RefreshOutcome): void
  lockWaitMs(ms: number): void
}

export interface RefresherDeps {
  config: BffConfig
  sessions: SessionService
  oidc: OidcClient
  clock: Clock
  logger: Logger
  metrics?: RefreshMetrics
}

/** A token set the provider issued whose write to the store failed; it exists only here. */
interface UnwrittenTokens {
  /** The session version the write was based on (compare-and-set). */
  baseVersion: number
  /** The refresh token spent to get it: never to be sent again. */
  spent: string
  data: SessionData
  at: number
}

/** Whether the session holds a usable access token for `resource` (its own without one). */
function usableFor(record: StoredSession, resource: string | undefined, now: number): boolean {
  const token = tokenFor(record.tokens, resource)
  return token !== undefined && isUsable(token, now)
}

/**
 * One refresh of one session, called only by the holder of its refresh lock with the
 * session as re-read after taking the lock. Spends the refresh token at most once. With a
 * `resource`, the new access token is for that audience (RFC 8707) and is kept beside the
 * session's own; the refresh token it spends (and the rotated one it gets) is the same one
 * the session's own refresh uses, which is why both take the same lock.
 */
export class TokenRefresher {
  readonly #deps: RefresherDeps
  /** Session key → token set not yet written (the store failed after a successful refresh). */
  readonly #unwritten = new Map<string, UnwrittenTokens>()

  constructor(deps: RefresherDeps) {
    this.#deps = deps
  }

  async refresh(
    key: string,
    current: StoredSession,
    lock: HeldLock,
    resource?: string,
    /** Called as the token request is sent (the requests waiting for it start their deadline). */
    onTokenCall: () => void = () => {},
  ): Promise<StoredSession> {
    const { sessions, clock } = this.#deps
    const recovered = await this.#writeUnwritten(key, current)
    if (recovered) {
      // Written at last; if the token asked for is not usable, refresh with the new refresh token.
      return usableFor(recovered, resource, clock.now())
        ? recovered
        : this.refresh(key, recovered, lock, resource, onTokenCall)
    }
    const refreshToken = current.tokens.refreshToken
    if (!refreshToken) {
      if (usableFor(current, resource, clock.now())) return current
      if (resource) {
        throw new BffError('provider_misconfigured', {
          detail: 'no refresh token to obtain a token for a resource with',
        })
      }
      await sessions.delete(key)
      throw new BffError('session_expired', { detail: 'access token expired and no refresh token' })
    }
    let response: TokenResponse
    try {
      onTokenCall()
      response = await this.#deps.oidc.refresh(refreshToken, resource, current.tokens.dpopKey)
    } catch (error) {
      return this.#onFailure({ key, current, error, resource })
    }
    const claims = response.claims()
    if (claims && (claims.sub !== current.sub || claims.iss !== current.iss)) {
      // The refresh token is spent already; the new tokens name someone else. End it.
      await sessions.delete(key)
      this.#deps.logger.warn(
        { event: 'refresh.subject_changed' },
        'refreshed ID token names another subject',
      )
      throw new BffError('session_expired', { detail: 'ID token on refresh changed sub or iss' })
    }
    if (!lock.held) {
      // Our lock expired while the provider answered: a newer holder may exist. The version
      // check below still stops us from overwriting a newer token set.
      this.#deps.logger.warn(
        { event: 'refresh.lock_lost' },
        'refresh lock lost during the token call',
      )
    }
    const data = {
      ...current,
      tokens: this.#tokensAfter(current.tokens, response, clock.now(), resource),
    }
    let written: boolean
    try {
      written = await sessions.replace({ key, record: current }, data)
    } catch (error) {
      // The provider has rotated the refresh token: the old one is spent, the new set exists
      // only in this process. Keep it, answer 503, and write it before anything else next time.
      this.#unwritten.set(key, {
        baseVersion: current.version,
        spent: refreshToken,
        data,
        at: clock.now(),
      })
      this.#deps.logger.warn(
        { event: 'refresh.write_failed' },
        'refreshed tokens not stored; kept in memory to write on the next attempt',
      )
      throw error
    }
    if (!written) {
      const latest = await sessions.reload(key)
      if (!latest)
        throw new BffError('session_expired', { detail: 'session deleted during refresh' })
      return latest
    }
    this.#deps.metrics?.outcome('refreshed')
    this.#deps.logger.info(
      { event: 'refresh.succeeded', ...(resource ? { resource } : {}) },
      resource ? 'access token for a resource obtained' : 'access token refreshed',
    )
    return { ...data, version: current.version + 1, lastSeenAt: current.lastSeenAt }
  }

  /**
   * The session's tokens after a refresh answered `response`. Its own refresh: a new own token
   * set (the previous refresh and ID token kept when none came). A resource's: only the
   * access token is that resource's; the refresh token (rotated or not) and the ID token are
   * the session's. Expired tokens of other resources are dropped either way.
   */
  #tokensAfter(
    previous: TokenSet,
    response: TokenResponse,
    now: number,
    resource: string | undefined,
  ): TokenSet {
    const lifetime = this.#deps.config.defaultAccessTokenLifetimeSeconds
    const resources = liveResources(previous, now)
    if (resource === undefined) {
      const own = tokenSetFrom(response, now, lifetime, previous)
      return resources ? { ...own, resources } : own
    }
    return {
      ...previous,
      ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
      ...(response.id_token ? { idToken: response.id_token } : {}),
      resources: { ...resources, [resource]: accessTokenFrom(response, now, lifetime) },
    }
  }

  /**
   * Retries the compare-and-set of a token set whose write failed, instead of spending its
   * (already spent) refresh token again. Null when there is none, or when the store moved on
   * (another writer, so ours is stale). A store that still fails throws 503 and keeps it.
   */
  async #writeUnwritten(key: string, current: StoredSession): Promise<StoredSession | null> {
    const now = this.#deps.clock.now()
    for (const [k, entry] of this.#unwritten) {
      if (now - entry.at > this.#deps.sessions.absoluteTimeoutMs) this.#unwritten.delete(k)
    }
    const pending = this.#unwritten.get(key)
    if (!pending) return null
    if (pending.baseVersion !== current.version || current.tokens.refreshToken !== pending.spent) {
      this.#unwritten.delete(key)
      return null
    }
    const written = await this.#deps.sessions.replace({ key, record: current }, pending.data)
    this.#unwritten.delete(key)
    if (!written) {
      const latest = await this.#deps.sessions.reload(key)
      if (!latest)
        throw new BffError('session_expired', { detail: 'session deleted during refresh' })
      return latest
    }
    this.#deps.logger.info(
      { event: 'refresh.write_recovered' },
      'kept tokens stored after a store failure',
    )
    return { ...pending.data, version: current.version + 1, lastSeenAt: current.lastSeenAt }
  }

  async #onFailure(failure: {
    key: string
    current: StoredSession
    error: unknown
    resource: string | undefined
  }): Promise<StoredSession> {
    const { key, current, error, resource } = failure
    const { sessions, clock, logger, metrics } = this.#deps
    if (error instanceof CircuitOpenError) {
      // Not tried: the provider is known down (logged once, by its circuit).
      if (usableFor(current, resource, clock.now())) return current
      throw error
    }
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    const kind = classifyRefreshFailure(error)
    if (kind === 'client_rejected') {
      metrics?.outcome('client_rejected')
      logger.error(
        { event: 'refresh.client_rejected', detail, ...providerAnswer(error) },
        'the provider refused the broker client on refresh (check OIDC_CLIENT_SECRET or the key); session kept',
      )
      if (usableFor(current, resource, clock.now())) return current
      throw new BffError('provider_rejected_client', { detail, cause: error })
    }
    if (kind === 'transient') {
      metrics?.outcome('transient_error')
      logger.warn(
        { event: 'refresh.transient_error', detail, ...providerAnswer(error) },
        'token refresh failed; session kept',
      )
      if (usableFor(current, resource, clock.now())) return current
      // The failure opened the provider's circuit: come back when it lets a call through.
      const retryAfterSeconds = this.#deps.oidc.tokenCircuit?.retryAfterSeconds
      throw new BffError('provider_unavailable', { detail, cause: error, retryAfterSeconds })
    }
    // Another instance may have rotated the token a moment ago: look once more.
    const latest = await sessions.reload(key)
    if (latest && latest.version !== current.version) return latest
    // `refused`, not `invalid_grant`: a non-JSON 4xx says no more than that, and the fields
    // below carry what the provider did say.
    metrics?.outcome('refused')
    logger.info(
      { event: 'refresh.refused', detail, ...providerAnswer(error) },
      'refresh token refused; session ended',
    )
    await sessions.delete(key)
    throw new BffError('session_expired', { detail, cause: error })
  }
}
