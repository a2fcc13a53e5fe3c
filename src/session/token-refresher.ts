import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import type { Clock } from '../lib/clock.js'
import type { OidcClient, TokenResponse } from '../oidc/client.js'
import { classifyRefreshFailure } from '../oidc/refresh-policy.js'
import type { HeldLock } from './refresh-lock.js'
import type { SessionService } from './session-service.js'
import { isUsable, tokenSetFrom } from './tokens.js'
import type { StoredSession } from './types.js'

export type RefreshOutcome =
  | 'refreshed'
  | 'coalesced_in_process'
  | 'waited_on_lock'
  | 'invalid_grant'
  | 'transient_error'

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

/**
 * One refresh of one session, called only by the holder of its refresh lock with the
 * session as re-read after taking the lock. Spends the refresh token at most once.
 */
export class TokenRefresher {
  readonly #deps: RefresherDeps

  constructor(deps: RefresherDeps) {
    this.#deps = deps
  }

  async refresh(key: string, current: StoredSession, lock: HeldLock): Promise<StoredSession> {
    const { sessions, clock } = this.#deps
    const refreshToken = current.tokens.refreshToken
    if (!refreshToken) {
      if (isUsable(current.tokens, clock.now())) return current
      await sessions.delete(key)
      throw new BffError('session_expired', { detail: 'access token expired and no refresh token' })
    }
    let response: TokenResponse
    try {
      response = await this.#deps.oidc.refresh(refreshToken)
    } catch (error) {
      return this.#onFailure(key, current, error)
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
      tokens: tokenSetFrom(
        response,
        clock.now(),
        this.#deps.config.defaultAccessTokenLifetimeSeconds,
        current.tokens,
      ),
    }
    const written = await sessions.replace({ key, record: current }, data)
    if (!written) {
      const latest = await sessions.reload(key)
      if (!latest)
        throw new BffError('session_expired', { detail: 'session deleted during refresh' })
      return latest
    }
    this.#deps.metrics?.outcome('refreshed')
    this.#deps.logger.info({ event: 'refresh.succeeded' }, 'access token refreshed')
    return { ...data, version: current.version + 1, lastSeenAt: current.lastSeenAt }
  }

  async #onFailure(key: string, current: StoredSession, error: unknown): Promise<StoredSession> {
    const { sessions, clock, logger, metrics } = this.#deps
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    if (classifyRefreshFailure(error) === 'transient') {
      metrics?.outcome('transient_error')
      logger.warn(
        { event: 'refresh.transient_error', detail },
        'token refresh failed; session kept',
      )
      if (isUsable(current.tokens, clock.now())) return current
      throw new BffError('provider_unavailable', { detail, cause: error })
    }
    // Another instance may have rotated the token a moment ago: look once more.
    const latest = await sessions.reload(key)
    if (latest && latest.version !== current.version) return latest
    metrics?.outcome('invalid_grant')
    logger.info({ event: 'refresh.invalid_grant', detail }, 'refresh token refused; session ended')
    await sessions.delete(key)
    throw new BffError('session_expired', { detail, cause: error })
  }
}
