import type { Logger } from 'pino'
import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import { storeCall } from '../errors/store-call.js'
import { providerErrorCode } from '../errors/translate.js'
import type { Clock } from '../lib/clock.js'
import { sha256 } from '../lib/random.js'
import type { ClientTokenRequest, OidcClient, TokenResponse } from '../oidc/client.js'
import { classifyClientTokenFailure } from '../oidc/refresh-policy.js'
import type { LockStore, SharedTokenStore } from '../store/interfaces.js'
import { RefreshLock } from './refresh-lock.js'
import type { TokenCipher } from './token-cipher.js'
import { accessTokenFrom, isUsable, needsRefresh } from './tokens.js'
import type { AccessToken } from './types.js'

/** Margin above the provider timeout: the lock must outlive the token call it guards. */
const LOCK_MARGIN_MS = 2000

export interface ClientTokenDeps {
  config: BffConfig
  oidc: OidcClient
  clock: Clock
  logger: Logger
  sharedTokens: SharedTokenStore
  locks: LockStore
  /** Encrypts the token in the store (the same keys as the sessions' tokens); null: plain. */
  cipher: TokenCipher | null
}

/**
 * The broker's own access token (RFC 6749 §4.4 client credentials) for `client` routes, one
 * per (resource, scopes): shared by every instance through the store, encrypted, until it is
 * within the refresh buffer of expiry. Fetched with single flight on two levels, as the
 * sessions' refresh, so the token endpoint is called once per token: requests in this process
 * share one attempt; across instances a store lock lets one holder call the token endpoint
 * while the others wait, then read the token it stored.
 */
export class ClientTokenService {
  readonly #deps: ClientTokenDeps
  readonly #bufferMs: number
  readonly #lock: RefreshLock
  /** This process's copy of each shared token, so a fresh one costs no store read. */
  readonly #memory = new Map<string, AccessToken>()
  readonly #inFlight = new Map<string, Promise<AccessToken>>()
  /** Each request object's cache key, built once (a route is one object for the broker's life). */
  readonly #keys = new WeakMap<ClientTokenRequest, string>()

  constructor(deps: ClientTokenDeps) {
    this.#deps = deps
    this.#bufferMs = deps.config.refreshBufferSeconds * 1000
    this.#lock = new RefreshLock(
      deps.locks,
      deps.config.providerTimeoutSeconds * 1000 + LOCK_MARGIN_MS,
    )
  }

  /** The token when this process holds a fresh one (no I/O); undefined otherwise. */
  withoutFetch(request: ClientTokenRequest): AccessToken | undefined {
    const token = this.#memory.get(this.#keyOf(request))
    return token && !this.#due(token) ? token : undefined
  }

  /** A fresh token: from the store, or fetched by one holder across every instance. */
  async fetched(request: ClientTokenRequest): Promise<AccessToken> {
    const key = this.#keyOf(request)
    let pending = this.#inFlight.get(key)
    if (!pending) {
      pending = this.#fetchOnce(key, request).finally(() => this.#inFlight.delete(key))
      this.#inFlight.set(key, pending)
    }
    return pending
  }

  /** One shared token per distinct (resource, scopes). */
  #keyOf(request: ClientTokenRequest): string {
    let key = this.#keys.get(request)
    if (key === undefined) {
      key = JSON.stringify([request.resource ?? null, [...request.clientScopes].sort()])
      this.#keys.set(request, key)
    }
    return key
  }

  #due(token: AccessToken): boolean {
    return needsRefresh(token, this.#deps.clock.now(), this.#bufferMs)
  }

  #remember(key: string, token: AccessToken): AccessToken {
    this.#memory.set(key, token)
    return token
  }

  /** Takes the lock or waits for its holder; bounded by the lock TTL, then 503 lock_timeout. */
  async #fetchOnce(key: string, request: ClientTokenRequest): Promise<AccessToken> {
    // The store name says nothing about the scopes or resource it stands for.
    const name = `client-token:${sha256(key)}`
    return this.#lock.heldOrSettled(
      name,
      async (waited) => {
        // Re-read every round: another instance may have fetched one meanwhile.
        const stored = await this.#read(name)
        if (stored && !this.#due(stored)) return this.#remember(key, stored)
        // The holder failed transiently; the stored token still works, so use it.
        if (waited && stored && isUsable(stored, this.#deps.clock.now())) {
          return this.#remember(key, stored)
        }
        return undefined
      },
      async () => {
        // Read again after taking the lock, in case it was stored underneath us.
        const latest = await this.#read(name)
        if (latest && !this.#due(latest)) return this.#remember(key, latest)
        return this.#fetch({ key, name, request, previous: latest })
      },
    )
  }

  async #read(name: string): Promise<AccessToken | null> {
    const stored = await storeCall('read client token', () =>
      this.#deps.sharedTokens.getSharedToken(name),
    )
    if (!stored || !this.#deps.cipher) return stored
    try {
      return this.#deps.cipher.open(stored, name)
    } catch {
      // Written under a key since removed, or tampered with: fetch a new one over it.
      return null
    }
  }

  async #fetch(fetch: {
    key: string
    name: string
    request: ClientTokenRequest
    previous: AccessToken | null
  }): Promise<AccessToken> {
    const { key, name, request, previous } = fetch
    const { oidc, clock, logger, config } = this.#deps
    let response: TokenResponse
    try {
      response = await oidc.clientCredentials(request)
    } catch (error) {
      return this.#onFailure(key, previous, error)
    }
    const now = clock.now()
    const token = accessTokenFrom(response, now, config.defaultAccessTokenLifetimeSeconds)
    // Remembered before it is stored: should the write fail, this process still uses it.
    this.#remember(key, token)
    const sealed = this.#deps.cipher ? this.#deps.cipher.seal(token, name) : token
    await storeCall('store client token', () =>
      this.#deps.sharedTokens.putSharedToken(
        name,
        sealed,
        Math.max(1, token.accessTokenExpiresAt - now),
      ),
    )
    logger.info({ event: 'client_token.fetched' }, 'client credentials token obtained')
    return token
  }

  #onFailure(key: string, previous: AccessToken | null, error: unknown): AccessToken {
    const { clock, logger } = this.#deps
    const detail =
      error instanceof BffError
        ? (error.detail ?? error.code)
        : error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error)
    // Discovery failing (provider_unavailable) is an outage, as on any other provider call.
    const misconfigured = error instanceof BffError && error.code === 'provider_misconfigured'
    if (error instanceof BffError && !misconfigured) throw error
    if (!misconfigured && classifyClientTokenFailure(error) === 'transient') {
      logger.warn({ event: 'client_token.transient_error', detail }, 'client token fetch failed')
      if (previous && isUsable(previous, clock.now())) return this.#remember(key, previous)
      throw new BffError('provider_unavailable', { detail, cause: error })
    }
    logger.error(
      { event: 'client_token.refused', detail },
      'the provider refused the client credentials grant: allow it for this client, or fix the route’s clientScopes or resource',
    )
    if (misconfigured) throw error
    // unauthorized_client here says the grant is not allowed for the client (configuration);
    // invalid_client, that its credentials were refused.
    const rejected = providerErrorCode(error) === 'invalid_client'
    throw new BffError(rejected ? 'provider_rejected_client' : 'provider_misconfigured', {
      detail,
      cause: error,
    })
  }
}
