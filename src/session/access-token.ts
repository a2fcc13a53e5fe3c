import { BffError } from '../errors/bff-error.js'
import { elapsedMs } from '../lib/clock.js'
import { CircuitOpenError } from '../resilience/circuit-open-error.js'
import type { LockStore } from '../store/interfaces.js'
import { NOTHING_SETTLED, RefreshLock } from './refresh-lock.js'
import { type RefresherDeps, TokenRefresher } from './token-refresher.js'
import { isUsable, needsRefresh, tokenFor } from './tokens.js'
import type { AccessToken, ActiveSession, StoredSession } from './types.js'

export type { RefreshMetrics, RefreshOutcome } from './token-refresher.js'

/** Margin above the provider timeout: the lock must outlive the token call it guards. */
const LOCK_MARGIN_MS = 2000

/** One refresh under way in this process, and when its token request was sent (if it was). */
interface Flight {
  done: Promise<StoredSession>
  tokenCallAt: number | undefined
  tokenCall: Promise<void>
}

/**
 * Hands out a fresh access token, refreshing it shortly before expiry with single flight
 * on two levels, because a refresh token sent twice (a provider that rotates them) revokes
 * the whole grant: requests of one session in this process share one attempt, and across
 * instances a store lock lets one holder call the token endpoint while the others wait, then
 * re-read the session and use the new token.
 *
 * With a `resource` (RFC 8707), the same for the session's token for that audience. It is
 * obtained with the session's refresh token, so its token call is under the session's one
 * lock too: a resource refresh and the session's own never spend one refresh token twice (a
 * provider that rotates refresh tokens would revoke the whole grant).
 */
export class AccessTokenService {
  readonly #deps: RefresherDeps
  readonly #bufferMs: number
  readonly #lock: RefreshLock
  readonly #refresher: TokenRefresher
  readonly #inFlight = new Map<string, Flight>()

  constructor(deps: RefresherDeps & { locks: LockStore }) {
    this.#deps = deps
    this.#bufferMs = deps.config.refreshBufferSeconds * 1000
    this.#lock = new RefreshLock(
      deps.locks,
      deps.config.providerTimeoutSeconds * 1000 + LOCK_MARGIN_MS,
    )
    this.#refresher = new TokenRefresher(deps)
  }

  /** The session's access token (for `resource`) when fresh (no await needed), else a refreshed one. */
  fresh(session: ActiveSession, resource?: string): AccessToken | Promise<AccessToken> {
    return this.withoutRefresh(session, resource) ?? this.refreshed(session, resource)
  }

  /**
   * The session's access token (for `resource`) when it holds one and no refresh is due;
   * undefined (and nothing started) otherwise.
   */
  withoutRefresh(session: ActiveSession, resource?: string): AccessToken | undefined {
    return this.#due(session.record, resource)
      ? undefined
      : tokenFor(session.record.tokens, resource)
  }

  /**
   * The access token (for `resource`) after a refresh (single flight in this process and across
   * instances). A request waits for the token request at most OIDC_TIMEOUT_SECONDS from when it
   * was sent; then it gets the still-valid token or 503, while the refresh goes on (its answer
   * is still taken and stored, see OidcClient.refresh) under the lock it holds.
   */
  async refreshed(
    session: ActiveSession,
    resource?: string,
    /**
     * `replacing`: an access token the provider has refused (a token exchange's invalid_grant):
     * it counts as due even before its expiry, so the session's token is refreshed unless
     * another request has replaced it already.
     */
    options: { replacing?: string } = {},
  ): Promise<AccessToken> {
    const name = resource === undefined ? session.key : `${session.key} ${resource}`
    let flight = this.#inFlight.get(name)
    if (flight) {
      this.#deps.metrics?.outcome('coalesced_in_process')
    } else {
      flight = this.#start(name, session.key, resource, options.replacing)
    }
    const record = await this.#withinDeadline(flight, session, resource, options.replacing)
    session.record = record
    const token = tokenFor(record.tokens, resource)
    // Only when a write raced this refresh (another holder's record won): try again shortly.
    if (!token) throw new BffError('provider_unavailable', { detail: 'no token for the resource' })
    // The refresh failed for now and the session still holds the refused token (an outage, or
    // a flight this request joined that found nothing due): never hand the refused one back.
    if (token.accessToken === options.replacing) {
      throw new BffError('provider_unavailable', {
        detail: 'the refused access token could not be replaced yet',
        retryAfterSeconds: this.#deps.oidc.tokenCircuit?.retryAfterSeconds,
      })
    }
    return token
  }

  #start(
    name: string,
    key: string,
    resource: string | undefined,
    replacing: string | undefined,
  ): Flight {
    let sent = () => {}
    const tokenCall = new Promise<void>((resolve) => {
      sent = resolve
    })
    const flight: Flight = {
      tokenCall,
      tokenCallAt: undefined,
      done: this.#refreshOnce(key, resource, replacing, () => {
        flight.tokenCallAt ??= elapsedMs()
        sent()
      }).finally(() => this.#inFlight.delete(name)),
    }
    // The refresh may end after every request waiting for it has given up.
    flight.done.catch(() => {})
    this.#inFlight.set(name, flight)
    return flight
  }

  /** The flight's record, or at the deadline the session's current token (if usable) or 503. */
  async #withinDeadline(
    flight: Flight,
    session: ActiveSession,
    resource: string | undefined,
    replacing: string | undefined,
  ): Promise<StoredSession> {
    const timeoutMs = this.#deps.config.providerTimeoutSeconds * 1000
    let timer: NodeJS.Timeout | undefined
    let settled = false
    const deadline = new Promise<'deadline'>((resolve) => {
      flight.tokenCall.then(() => {
        if (settled) return
        const left = (flight.tokenCallAt ?? elapsedMs()) + timeoutMs - elapsedMs()
        timer = setTimeout(() => resolve('deadline'), Math.max(0, left))
      })
    })
    try {
      const first = await Promise.race([flight.done, deadline])
      if (first !== 'deadline') return first
    } finally {
      settled = true
      clearTimeout(timer)
    }
    if (this.#usable(session.record, resource, replacing)) return session.record
    throw new BffError('provider_unavailable', {
      detail: 'the token request is still unanswered; it goes on without this request',
      retryAfterSeconds: this.#deps.oidc.tokenCircuit?.retryAfterSeconds,
    })
  }

  /**
   * Whether the session's token (for `resource`) is missing or due for a refresh, or is the one
   * being replaced (refused by the provider).
   */
  #due(record: StoredSession, resource: string | undefined, replacing?: string): boolean {
    const token = tokenFor(record.tokens, resource)
    return (
      token === undefined ||
      token.accessToken === replacing ||
      needsRefresh(token, this.#deps.clock.now(), this.#bufferMs)
    )
  }

  #usable(record: StoredSession, resource: string | undefined, replacing?: string): boolean {
    const token = tokenFor(record.tokens, resource)
    return (
      token !== undefined &&
      token.accessToken !== replacing &&
      isUsable(token, this.#deps.clock.now())
    )
  }

  async #reload(key: string): Promise<StoredSession> {
    const record = await this.#deps.sessions.reload(key)
    if (!record) throw new BffError('session_expired', { detail: 'session gone during refresh' })
    return record
  }

  /**
   * Two locks, always taken in this order. The token's own lock (one per session and token)
   * makes requests wanting the same token wait for one holder, and lets them use a still-valid
   * token when that holder failed. The session's lock, held only around the token call, is
   * shared by every token the session's refresh token obtains, so that refresh token is never
   * sent twice. Each wait is bounded by the lock TTL, then 503 lock_timeout.
   */
  async #refreshOnce(
    key: string,
    resource: string | undefined,
    replacing: string | undefined,
    onTokenCall: () => void,
  ): Promise<StoredSession> {
    const startedAt = elapsedMs()
    return this.#lock.heldOrSettled(
      `${key}#${resource ?? ''}`,
      async (waited) => {
        // Re-read every round: another request or instance may have refreshed meanwhile.
        const current = await this.#reload(key)
        if (!this.#due(current, resource, replacing)) {
          return this.#afterWait(current, waited, startedAt)
        }
        if (waited && this.#usable(current, resource, replacing)) {
          // The holder failed transiently; the current token still works, so use it rather
          // than sending the same refresh token again from here.
          return this.#afterWait(current, waited, startedAt)
        }
        // The provider is known down: the current token if it still works, else 503 now,
        // rather than taking the lock (or waiting for it) only to be refused.
        const circuit = this.#deps.oidc.tokenCircuit
        if (circuit?.refusing) {
          if (this.#usable(current, resource, replacing)) {
            return this.#afterWait(current, waited, startedAt)
          }
          throw new CircuitOpenError('provider_unavailable', circuit)
        }
        return undefined
      },
      () => this.#refreshHolding(key, resource, replacing, onTokenCall),
    )
  }

  /** With the token's own lock held: the session's lock, then the refresh if still due. */
  async #refreshHolding(
    key: string,
    resource: string | undefined,
    replacing: string | undefined,
    onTokenCall: () => void,
  ): Promise<StoredSession> {
    // While another token of this session is being obtained: wait for it, then take our turn.
    return this.#lock.heldOrSettled(key, NOTHING_SETTLED, async (lock) => {
      // Reload after taking the lock, in case it was changed underneath us.
      const latest = await this.#reload(key)
      if (!this.#due(latest, resource, replacing)) return latest
      return this.#refresher.refresh(key, latest, lock, resource, onTokenCall)
    })
  }

  #afterWait(record: StoredSession, waited: boolean, startedAt: number): StoredSession {
    if (waited) {
      this.#deps.metrics?.outcome('waited_on_lock')
      this.#deps.metrics?.lockWaitMs(elapsedMs() - startedAt)
    }
    return record
  }
}
