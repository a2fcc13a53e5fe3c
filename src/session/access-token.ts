import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import type { Clock } from '../lib/clock.js'
import type { OidcClient } from '../oidc/client.js'
import { classifyRefreshFailure } from '../oidc/refresh-policy.js'
import type { ActiveSession, SessionService } from './session-service.js'
import { isUsable, needsRefresh, tokenSetFrom } from './tokens.js'
import type { StoredSession, TokenSet } from './types.js'

export type RefreshOutcome =
  | 'refreshed'
  | 'coalesced_in_process'
  | 'invalid_grant'
  | 'transient_error'

export interface AccessTokenDeps {
  config: BffConfig
  sessions: SessionService
  oidc: OidcClient
  clock: Clock
  logger: Logger
  onRefresh?: (outcome: RefreshOutcome) => void
}

/**
 * Hands out a fresh access token for a session, refreshing it shortly before expiry.
 * Concurrent requests of one session in this process share one refresh attempt.
 */
export class AccessTokenService {
  readonly #deps: AccessTokenDeps
  readonly #bufferMs: number
  readonly #inFlight = new Map<string, Promise<StoredSession>>()

  constructor(deps: AccessTokenDeps) {
    this.#deps = deps
    this.#bufferMs = deps.config.refreshBufferSeconds * 1000
  }

  async fresh(session: ActiveSession): Promise<TokenSet> {
    if (!needsRefresh(session.record.tokens, this.#deps.clock.now(), this.#bufferMs)) {
      return session.record.tokens
    }
    let pending = this.#inFlight.get(session.key)
    if (pending) {
      this.#deps.onRefresh?.('coalesced_in_process')
    } else {
      pending = this.#refresh(session.key).finally(() => this.#inFlight.delete(session.key))
      this.#inFlight.set(session.key, pending)
    }
    const record = await pending
    session.record = record
    return record.tokens
  }

  async #refresh(key: string): Promise<StoredSession> {
    const { sessions, clock } = this.#deps
    // Re-read: another request may have refreshed while this one was on its way here.
    const current = await sessions.reload(key)
    if (!current) throw new BffError('session_expired', { detail: 'session gone before refresh' })
    if (!needsRefresh(current.tokens, clock.now(), this.#bufferMs)) return current
    const refreshToken = current.tokens.refreshToken
    if (!refreshToken) {
      if (isUsable(current.tokens, clock.now())) return current
      await sessions.delete(key)
      throw new BffError('session_expired', { detail: 'access token expired and no refresh token' })
    }
    let response: Awaited<ReturnType<OidcClient['refresh']>>
    try {
      response = await this.#deps.oidc.refresh(refreshToken)
    } catch (error) {
      return this.#onFailure(key, current, error)
    }
    const claims = response.claims()
    if (claims && (claims.sub !== current.sub || claims.iss !== current.iss)) {
      // The refresh token is spent already; the new tokens belong to someone else. End it.
      await sessions.delete(key)
      this.#deps.logger.warn(
        { event: 'refresh.subject_changed' },
        'refreshed ID token names another subject',
      )
      throw new BffError('session_expired', { detail: 'ID token on refresh changed sub or iss' })
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
    this.#deps.onRefresh?.('refreshed')
    this.#deps.logger.info({ event: 'refresh.succeeded' }, 'access token refreshed')
    return { ...data, version: current.version + 1, lastSeenAt: current.lastSeenAt }
  }

  async #onFailure(key: string, current: StoredSession, error: unknown): Promise<StoredSession> {
    const { sessions, clock, logger } = this.#deps
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    if (classifyRefreshFailure(error) === 'transient') {
      this.#deps.onRefresh?.('transient_error')
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
    this.#deps.onRefresh?.('invalid_grant')
    logger.info({ event: 'refresh.invalid_grant', detail }, 'refresh token refused; session ended')
    await sessions.delete(key)
    throw new BffError('session_expired', { detail, cause: error })
  }
}
