import { BffError } from '../errors/bff-error.js'
import { Backoff, RefreshLock } from './refresh-lock.js'
import type { ActiveSession } from './session-service.js'
import type { SessionStore } from './store.js'
import { type RefresherDeps, TokenRefresher } from './token-refresher.js'
import { isUsable, needsRefresh } from './tokens.js'
import type { StoredSession, TokenSet } from './types.js'

export type { RefreshMetrics, RefreshOutcome } from './token-refresher.js'

/** Margin above the provider timeout: the lock must outlive the token call it guards. */
const LOCK_MARGIN_MS = 2000

/**
 * Hands out a fresh access token, refreshing it shortly before expiry with single flight
 * on two levels (design trap 4): requests of one session in this process share one
 * attempt, and across instances a store lock lets one holder call the token endpoint while
 * the others wait, then re-read the session and use the new token.
 */
export class AccessTokenService {
  readonly #deps: RefresherDeps
  readonly #bufferMs: number
  readonly #lock: RefreshLock
  readonly #refresher: TokenRefresher
  readonly #inFlight = new Map<string, Promise<StoredSession>>()

  constructor(deps: RefresherDeps & { store: SessionStore }) {
    this.#deps = deps
    this.#bufferMs = deps.config.refreshBufferSeconds * 1000
    this.#lock = new RefreshLock(
      deps.store,
      deps.config.providerTimeoutSeconds * 1000 + LOCK_MARGIN_MS,
    )
    this.#refresher = new TokenRefresher(deps)
  }

  /** The session's access token when fresh (no await needed), else a refreshed one. */
  fresh(session: ActiveSession): TokenSet | Promise<TokenSet> {
    return this.withoutRefresh(session) ?? this.refreshed(session)
  }

  /** The session's tokens when no refresh is due; undefined (and nothing started) otherwise. */
  withoutRefresh(session: ActiveSession): TokenSet | undefined {
    return this.#due(session.record) ? undefined : session.record.tokens
  }

  /** The tokens after a refresh (single flight in this process and across instances). */
  async refreshed(session: ActiveSession): Promise<TokenSet> {
    let pending = this.#inFlight.get(session.key)
    if (pending) {
      this.#deps.metrics?.outcome('coalesced_in_process')
    } else {
      pending = this.#refreshOnce(session.key).finally(() => this.#inFlight.delete(session.key))
      this.#inFlight.set(session.key, pending)
    }
    const record = await pending
    session.record = record
    return record.tokens
  }

  #due(record: StoredSession): boolean {
    return needsRefresh(record.tokens, this.#deps.clock.now(), this.#bufferMs)
  }

  async #reload(key: string): Promise<StoredSession> {
    const record = await this.#deps.sessions.reload(key)
    if (!record) throw new BffError('session_expired', { detail: 'session gone during refresh' })
    return record
  }

  /** Takes the lock or waits for its holder; bounded by the lock TTL, then 503 lock_timeout. */
  async #refreshOnce(key: string): Promise<StoredSession> {
    const startedAt = Date.now()
    const backoff = new Backoff(startedAt + this.#lock.ttlMs + 1000)
    let waited = false
    for (;;) {
      // Re-read every round: another request or instance may have refreshed meanwhile.
      const current = await this.#reload(key)
      if (!this.#due(current)) return this.#afterWait(current, waited, startedAt)
      if (waited && isUsable(current.tokens, this.#deps.clock.now())) {
        // The holder failed transiently; the current token still works, so use it rather
        // than sending the same refresh token again from here.
        return this.#afterWait(current, waited, startedAt)
      }
      const lock = await this.#lock.tryAcquire(key)
      if (lock) {
        try {
          // Reload after taking the lock, in case it was changed underneath us.
          const latest = await this.#reload(key)
          if (!this.#due(latest)) return latest
          return await this.#refresher.refresh(key, latest, lock)
        } finally {
          await lock.release()
        }
      }
      waited = true
      await backoff.wait()
    }
  }

  #afterWait(record: StoredSession, waited: boolean, startedAt: number): StoredSession {
    if (waited) {
      this.#deps.metrics?.outcome('waited_on_lock')
      this.#deps.metrics?.lockWaitMs(Date.now() - startedAt)
    }
    return record
  }
}
