import * as jose from 'jose'
import type { CustomFetch, ServerMetadata } from 'openid-client'
import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import type { Clock } from '../lib/clock.js'
import type { OidcClient } from './client.js'

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** Logout tokens issued longer ago than this are refused (§2.4 makes `iat` required). */
const MAX_TOKEN_AGE_SECONDS = 300
const CLOCK_TOLERANCE_SECONDS = 30
/**
 * A jti is remembered as long as a token carrying it could still be accepted: the age window
 * plus the clock tolerance on both sides of `iat`.
 */
export const REPLAY_WINDOW_MS = (MAX_TOKEN_AGE_SECONDS + 2 * CLOCK_TOLERANCE_SECONDS) * 1000
const MAX_CLAIM_LENGTH = 1024
/** §2.4 recommends `typ: logout+jwt`; many providers send `JWT` or nothing, also accepted. */
const ACCEPTED_TYPES = new Set(['logout+jwt', 'application/logout+jwt', 'jwt'])

export interface LogoutClaims {
  iss: string
  jti: string
  sid?: string
  sub?: string
}

const invalid = (detail: string, cause?: unknown) =>
  new BffError('invalid_token', { detail, ...(cause ? { cause } : {}) })

function optionalString(payload: jose.JWTPayload, name: 'sid' | 'sub'): string | undefined {
  const value = payload[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '' || value.length > MAX_CLAIM_LENGTH) {
    throw invalid(`${name} is not a non-empty string`)
  }
  return value
}

/** Failures to get the keys are the provider's (503, it may retry); everything else is the token's. */
function translate(error: unknown): BffError {
  if (error instanceof BffError) return error
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  const unreachable =
    error instanceof jose.errors.JWKSTimeout ||
    (error instanceof TypeError && error.message === 'fetch failed') ||
    (error instanceof jose.errors.JOSEError &&
      error.code === 'ERR_JOSE_GENERIC' &&
      /JSON Web Key Set/.test(error.message))
  if (unreachable) return new BffError('provider_unavailable', { detail, cause: error })
  return invalid(detail, error)
}

/**
 * Verifies a back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4, validation §2.6)
 * with jose: openid-client has no API for it. The JWKS comes from discovery and is cached.
 */
export class LogoutTokenVerifier {
  readonly #config: BffConfig
  readonly #oidc: OidcClient
  readonly #clock: Clock
  readonly #fetch: CustomFetch | undefined
  #keys: { uri: string; set: ReturnType<typeof jose.createRemoteJWKSet> } | undefined

  constructor(config: BffConfig, oidc: OidcClient, clock: Clock, customFetch?: CustomFetch) {
    this.#config = config
    this.#oidc = oidc
    this.#clock = clock
    this.#fetch = customFetch
  }

  #keySet(uri: string) {
    if (this.#keys?.uri !== uri) {
      this.#keys = {
        uri,
        set: jose.createRemoteJWKSet(new URL(uri), {
          timeoutDuration: this.#config.providerTimeoutSeconds * 1000,
          ...(this.#fetch
            ? { [jose.customFetch]: this.#fetch as unknown as jose.FetchImplementation }
            : {}),
        }),
      }
    }
    return this.#keys.set
  }

  async verify(token: string): Promise<LogoutClaims> {
    let metadata: ServerMetadata
    try {
      metadata = (await this.#oidc.configuration()).serverMetadata()
    } catch (error) {
      // Without discovery nothing can be checked: the provider should retry later.
      throw new BffError('provider_unavailable', {
        detail: `discovery: ${String(error)}`,
        cause: error,
      })
    }
    if (!metadata.jwks_uri) throw invalid('the provider publishes no jwks_uri')
    let verified: jose.JWTVerifyResult
    try {
      verified = await jose.jwtVerify(token, this.#keySet(metadata.jwks_uri), {
        // The ID token allow-list: asymmetric only, so `none` and HS256-with-the-public-key fail.
        algorithms: [...this.#config.idTokenAlgorithms],
        issuer: metadata.issuer,
        audience: this.#config.clientId,
        maxTokenAge: MAX_TOKEN_AGE_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['iat', 'jti', 'events'],
        currentDate: new Date(this.#clock.now()),
      })
    } catch (error) {
      throw translate(error)
    }
    const { payload, protectedHeader } = verified
    const typ = protectedHeader.typ?.toLowerCase()
    if (typ !== undefined && !ACCEPTED_TYPES.has(typ)) throw invalid(`typ ${typ} refused`)
    const events = payload.events
    const event =
      events && typeof events === 'object' && !Array.isArray(events)
        ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT]
        : undefined
    if (!event || typeof event !== 'object' || Array.isArray(event)) {
      throw invalid('events lacks the back-channel logout event object')
    }
    // §2.4: a nonce is prohibited, so an ID token can never pass as a logout token.
    if ('nonce' in payload) throw invalid('nonce present')
    const sid = optionalString(payload, 'sid')
    const sub = optionalString(payload, 'sub')
    if (!sid && !sub) throw invalid('neither sid nor sub')
    const jti = payload.jti
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_CLAIM_LENGTH) {
      throw invalid('jti is not a non-empty string')
    }
    return {
      iss: payload.iss as string,
      jti,
      ...(sid ? { sid } : {}),
      ...(sub ? { sub } : {}),
    }
  }
}
