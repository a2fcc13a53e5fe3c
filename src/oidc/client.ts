import { type Attributes, trace } from '@opentelemetry/api'
import * as oidc from 'openid-client'
import type { BffConfig } from '../config/schema.js'
import { BffError } from '../errors/bff-error.js'
import {
  clientRefused,
  providerErrorCode,
  providerErrorDescription,
  translateProviderError,
} from '../errors/translate.js'
import { elapsedMs } from '../lib/clock.js'
import { randomId } from '../lib/random.js'
import { inClientSpan } from '../observability/tracing.js'
import { signInAsksFor } from '../proxy/upstreams.js'
import type { CircuitBreaker } from '../resilience/circuit-breaker.js'
import { CircuitOpenError } from '../resilience/circuit-open-error.js'
import type { LoginDemands } from '../session/types.js'
import { createClientAuth } from './client-auth.js'
import { DPOP_ALG, DpopKeys, newDpopKey } from './dpop.js'
import { type EndSession, type EndSessionParams, endSessionRequest } from './end-session.js'

export type TokenResponse = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers

/** What the broker's own client-credentials token is asked for (a `client` route is one). */
export interface ClientTokenRequest {
  clientScopes: readonly string[]
  /** RFC 8707 resource indicator. */
  resource: string | undefined
}

/** RFC 8693 §2.1: a token exchange's request, the subject being the user's own access token. */
export interface ExchangeRequest {
  /** The session's own access token, fresh (RFC 8693 `subject_token`). */
  subjectToken: string
  /** RFC 8707 resource indicator of the token asked for. */
  resource: string | undefined
  /** RFC 8693 §2.1 logical audience of the token asked for. */
  audience: string | undefined
  /** The session's DPoP key: the request carries a proof of it, as every token request does. */
  dpopKey: string | undefined
}

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
/** RFC 8693 §3: token type identifier of an OAuth access token. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

export interface AuthorizationRequest {
  state: string
  nonce: string
  codeChallenge: string
  /** What this sign-in asks beyond configuration (step-up, silent sign-in). */
  demands?: LoginDemands
}

/** The checks of one sign-in's code exchange: its transaction's values. */
export interface CodeChecks {
  state: string
  nonce: string
  codeVerifier: string
  demands?: LoginDemands
  /** The new session's DPoP key (see signInDpopKey): the tokens are bound to it. */
  dpopKey?: string | undefined
}

/** Token endpoint answers to the client check's made-up refresh token from a client it accepted. */
const CLIENT_ACCEPTED = new Set(['invalid_grant', 'invalid_request', 'unsupported_grant_type'])

/** RFC 9207 and the core checks openid-client runs; 30 s tolerance for clock skew. */
const CLOCK_TOLERANCE_SECONDS = 30
/**
 * Whether a failed code exchange was about the ID token's `auth_time` (too old, or missing):
 * openid-client rewords oauth4webapi's errors, whose `cause` still names the claim.
 */
function aboutAuthTime(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false
  const { claim } = (error as { claim?: unknown }) ?? {}
  const cause = error.cause as { claim?: unknown } | undefined
  return (
    /auth_time|authentication time/.test(error.message) ||
    claim === 'auth_time' ||
    cause?.claim === 'auth_time' ||
    aboutAuthTime(error.cause, depth + 1)
  )
}

/** A client the provider refused is checked again after this long (its secret may be fixed). */
const CLIENT_RECHECK_MS = 60_000
/** After a failed discovery, wait this long before asking the provider again. */
const DISCOVERY_RETRY_MS = 2000

/**
 * OIDC Discovery 1.0 §4.3: the discovered `issuer` must equal the configured issuer URL
 * exactly. A mismatch is a configuration error (or a provider impersonation), not an outage:
 * a coded error the server turns into a refusal to start.
 */
function issuerMismatch(error: unknown, configured: string): BffError | undefined {
  const e = error as {
    code?: unknown
    cause?: { attribute?: unknown; body?: { issuer?: unknown } }
  }
  if (e?.code !== 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' || e.cause?.attribute !== 'issuer') {
    return undefined
  }
  const named = typeof e.cause.body?.issuer === 'string' ? e.cause.body.issuer : 'another issuer'
  return new BffError('provider_misconfigured', {
    detail: `discovery names issuer ${JSON.stringify(named).slice(0, 200)}, but OIDC_ISSUER is ${configured}`,
    cause: error,
  })
}

/** An OAuth `error` code (RFC 6749 §5.2 style), safe to name in a span. */
const OAUTH_ERROR_CODE = /^[a-z_]{1,64}$/

/**
 * What a provider call's span says of its failure: the broker's code (provider_unavailable,
 * provider_rejected_client, a validation's login_failed; `provider_error` for any other
 * refusal) and the provider's OAuth error code. Never a message: openid-client's quote the
 * provider's answer.
 */
function providerFailure(error: unknown, configuredIssuer?: string) {
  const mismatch =
    configuredIssuer === undefined ? undefined : issuerMismatch(error, configuredIssuer)
  const translated = mismatch ?? translateProviderError(error, 'login_failed')
  const refused = !(error instanceof BffError) && translated.code === 'login_failed'
  const oauthError = providerErrorCode(error)
  return {
    code: refused ? 'provider_error' : translated.code,
    ...(oauthError !== undefined &&
      OAUTH_ERROR_CODE.test(oauthError) && {
        attributes: { 'bff.provider_error': oauthError },
      }),
  }
}

/**
 * Every protocol step of the broker, through openid-client. Discovery is cached and
 * retried after a failure; nothing here hand-rolls OAuth or JWT logic.
 */
export class OidcClient {
  readonly #config: BffConfig
  readonly #fetch: oidc.CustomFetch | undefined
  #discovery: Promise<oidc.Configuration> | undefined
  #failedAt = 0
  #jwksUri: string | undefined
  /**
   * Whether discovery named a revocation endpoint; read once, since `serverMetadata()` copies
   * the whole document (structuredClone) and a mass logout revokes thousands of tokens.
   */
  #revocationEndpoint = false
  /** Discovery's grant_types_supported, when it lists them. */
  #grantTypes: readonly string[] | undefined
  /** Whether sessions get a DPoP key (OIDC_DPOP and what discovery offers). */
  #dpop = false
  /** Sessions' DPoP keys, parsed once each (token requests here, upstream proofs in the proxy). */
  readonly dpopKeys = new DpopKeys()
  /**
   * RFC 8707 §2.1: the resources the sign-in asks for — the user's own token's and every
   * route's — so the grant covers each one a refresh later names.
   */
  readonly #signInResources: readonly string[]
  /** Where every provider span says the call went. */
  readonly #spanAttributes: Attributes

  /** The token endpoint's circuit: open, token calls fail at once (see resilience/). */
  readonly tokenCircuit: CircuitBreaker | undefined
  #patient: { base: oidc.Configuration; patient: oidc.Configuration } | undefined
  #clientCheck:
    | { result: 'ok' | 'unverified'; at: number }
    | { result: 'rejected'; error: BffError; at: number }
    | undefined

  constructor(config: BffConfig, customFetch?: oidc.CustomFetch, tokenCircuit?: CircuitBreaker) {
    this.#config = config
    this.#fetch = customFetch
    this.tokenCircuit = tokenCircuit
    const routeResources = config.apiRoutes.filter(signInAsksFor).map((route) => route.resource)
    this.#signInResources = [
      ...new Set([config.resource, ...routeResources].filter((r): r is string => Boolean(r))),
    ]
    const issuer = new URL(config.issuer)
    this.#spanAttributes = {
      'server.address': issuer.hostname,
      'server.port': Number(issuer.port) || (issuer.protocol === 'https:' ? 443 : 80),
    }
  }

  /** A provider call in a CLIENT span `oidc.<operation>` (see observability/tracing.ts). */
  #traced<T>(operation: string, call: () => Promise<T>): Promise<T> {
    return inClientSpan(`oidc.${operation}`, this.#spanAttributes, call, providerFailure)
  }

  get redirectUri(): string {
    return new URL('/auth/callback', this.#config.publicUrl).href
  }

  /** The provider configuration; throws provider_unavailable while discovery fails. */
  configuration(now = elapsedMs()): Promise<oidc.Configuration> {
    if (!this.#discovery) {
      if (now - this.#failedAt < DISCOVERY_RETRY_MS && this.#failedAt > 0) {
        return Promise.reject(
          new BffError('provider_unavailable', { detail: 'discovery failed recently' }),
        )
      }
      this.#discovery = inClientSpan(
        'oidc.discovery',
        this.#spanAttributes,
        () => this.#discover(),
        (error) => providerFailure(error, this.#config.issuer),
      ).catch((error: unknown) => {
        this.#discovery = undefined
        this.#failedAt = elapsedMs()
        throw (
          issuerMismatch(error, this.#config.issuer) ??
          translateProviderError(error, 'login_failed')
        )
      })
    }
    return this.#discovery
  }

  /** The provider's JWKS URI once discovery has loaded. */
  get jwksUri(): string | undefined {
    return this.#jwksUri
  }

  isDiscovered(): boolean {
    return this.#discovery !== undefined && this.#failedAt === 0
  }

  /**
   * The configuration refresh grants use: the same, but a sent refresh request is waited for
   * up to REFRESH_ANSWER_WAIT_SECONDS instead of OIDC_TIMEOUT_SECONDS. A rotating provider
   * that answers a refresh after the broker gave up has spent the old refresh token; sending it
   * again would be a reuse, and the grant would be revoked. So the answer is still taken (and
   * stored) while the request that started the refresh has long had its 503.
   */
  async #refreshConfiguration(): Promise<oidc.Configuration> {
    const configuration = await this.configuration()
    if (this.#patient?.base !== configuration) {
      const patient = new oidc.Configuration(
        configuration.serverMetadata(),
        this.#config.clientId,
        this.#clientMetadata(),
        await createClientAuth(this.#config),
      )
      patient.timeout = Math.max(
        this.#config.refreshAnswerWaitSeconds,
        this.#config.providerTimeoutSeconds,
      )
      if (this.#fetch) patient[oidc.customFetch] = this.#fetch
      for (const option of this.#executeOptions()) option(patient)
      this.#patient = { base: configuration, patient }
    }
    return this.#patient.patient
  }

  #clientMetadata(): Partial<oidc.ClientMetadata> {
    const c = this.#config
    const metadata: Partial<oidc.ClientMetadata> = {
      // oauth4webapi accepts a list here: the ID token `alg` allow-list.
      id_token_signed_response_alg: c.idTokenAlgorithms as unknown as string,
      [oidc.clockTolerance]: CLOCK_TOLERANCE_SECONDS,
    }
    if (c.clientSecret) metadata.client_secret = c.clientSecret
    return metadata
  }

  /**
   * Non-repudiation checks make openid-client verify ID token signatures against the JWKS;
   * without them it trusts the TLS channel alone (OIDC Core §3.1.3.7 allows that, this broker
   * does not).
   */
  #executeOptions(): Array<(config: oidc.Configuration) => void> {
    return this.#config.dangerouslyAllowHttpIssuer
      ? [oidc.enableNonRepudiationChecks, oidc.allowInsecureRequests]
      : [oidc.enableNonRepudiationChecks]
  }

  async #discover(): Promise<oidc.Configuration> {
    const c = this.#config
    const configuration = await oidc.discovery(
      new URL(c.issuer),
      c.clientId,
      this.#clientMetadata(),
      await createClientAuth(c),
      {
        timeout: c.providerTimeoutSeconds,
        ...(this.#fetch ? { [oidc.customFetch]: this.#fetch } : {}),
        execute: this.#executeOptions(),
      },
    )
    this.#failedAt = 0
    const discovered = configuration.serverMetadata()
    this.#jwksUri = discovered.jwks_uri
    this.#revocationEndpoint = Boolean(discovered.revocation_endpoint)
    this.#grantTypes = discovered.grant_types_supported
    const dpopOffered = discovered.dpop_signing_alg_values_supported?.includes(DPOP_ALG) === true
    if (c.dpop === 'always' && !dpopOffered) {
      throw new BffError('provider_misconfigured', {
        detail: `OIDC_DPOP=always, but the provider does not list ${DPOP_ALG} in dpop_signing_alg_values_supported`,
      })
    }
    this.#dpop = c.dpop !== 'off' && dpopOffered
    return configuration
  }

  async authorizationUrl(request: AuthorizationRequest): Promise<URL> {
    const configuration = await this.configuration()
    const params = new URLSearchParams({
      ...this.#config.authorizationParams,
      redirect_uri: this.redirectUri,
      response_type: 'code',
      scope: this.#config.scopes.join(' '),
      state: request.state,
      nonce: request.nonce,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256',
      ...demandParams(request.demands, this.#maxAge(request.demands)),
    })
    for (const resource of this.#signInResources) params.append('resource', resource)
    const usePar =
      this.#config.usePar === 'always' ||
      configuration.serverMetadata().require_pushed_authorization_requests === true
    if (!usePar) return oidc.buildAuthorizationUrl(configuration, params)
    try {
      return await this.#traced('par', () =>
        oidc.buildAuthorizationUrlWithPAR(configuration, params),
      )
    } catch (error) {
      throw translateProviderError(error, 'login_failed')
    }
  }

  /**
   * Validates the authorization response (state, RFC 9207 iss) and redeems the code with
   * the PKCE verifier; openid-client validates the ID token (signature, alg allow-list,
   * iss, aud, azp, exp, iat, nonce).
   */
  async redeemCode(callbackUrl: URL, checks: CodeChecks): Promise<TokenResponse> {
    return this.#throughCircuit(() =>
      this.#traced('code_exchange', () => this.#redeemCode(callbackUrl, checks)),
    )
  }

  async #redeemCode(callbackUrl: URL, checks: CodeChecks): Promise<TokenResponse> {
    const configuration = await this.configuration()
    const maxAge = this.#maxAge(checks.demands)
    let tokens: TokenResponse
    try {
      tokens = await oidc.authorizationCodeGrant(
        configuration,
        callbackUrl,
        {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
          // OIDC Core §3.1.2.1: asked with max_age, the ID token must carry an auth_time that
          // recent; a provider that sends an older one (or 0) has not re-authenticated the user.
          ...(maxAge !== undefined && { maxAge }),
        },
        // RFC 8707 §2.2: the user's own token is for this audience, whatever else was granted.
        this.#config.resource ? { resource: this.#config.resource } : undefined,
        await this.#dpopOptions(configuration, checks.dpopKey),
      )
    } catch (error) {
      if (maxAge !== undefined && aboutAuthTime(error)) {
        throw new BffError('login_failed', {
          detail: `ID token auth_time older than max_age ${maxAge} s, or missing`,
          message:
            'The identity provider did not confirm a recent enough sign-in (max_age). Please sign in again.',
          cause: error,
        })
      }
      throw translateProviderError(error, 'login_failed')
    }
    checkAcr(tokens, checks.demands?.acrValues)
    return tokens
  }

  /**
   * The max_age a sign-in asks for, in seconds: OIDC_AUTH_PARAMS's or the sign-in's own,
   * the stricter when both are set.
   */
  #maxAge(demands: LoginDemands | undefined): number | undefined {
    const raw = this.#config.authorizationParams.max_age
    const configured = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined
    const asked = demands?.maxAge
    if (configured === undefined) return asked
    return asked === undefined ? configured : Math.min(configured, asked)
  }

  /**
   * Raw refresh; callers classify failures with refresh-policy.ts. With `resource`, the access
   * token is for that audience (RFC 8707 §2.2), else for OIDC_RESOURCE when one is configured.
   */
  refresh(refreshToken: string, resource?: string, dpopKey?: string): Promise<TokenResponse> {
    return this.#throughCircuit(() =>
      this.#traced('refresh', async () => {
        const configuration = await this.#refreshConfiguration()
        const audience = resource ?? this.#config.resource
        return oidc.refreshTokenGrant(
          configuration,
          refreshToken,
          { ...this.#config.refreshParams, ...(audience ? { resource: audience } : {}) },
          await this.#dpopOptions(configuration, dpopKey),
        )
      }),
    )
  }

  /**
   * RFC 8693 token exchange of the user's access token for one for another audience, through
   * openid-client's generic grant (client authentication, DPoP, error responses as for every
   * grant). Raw: callers classify failures with refresh-policy.ts. Refused without a call when
   * discovery lists the grant types and the exchange is not among them. It spends nothing, so it
   * waits OIDC_TIMEOUT_SECONDS like any other call, not the refresh's longer wait.
   */
  async exchange(request: ExchangeRequest): Promise<TokenResponse> {
    // Decided before the circuit: a refusal without a call says nothing of the provider's health.
    await this.configuration()
    if (this.#grantTypes && !this.#grantTypes.includes(TOKEN_EXCHANGE_GRANT)) {
      throw new BffError('token_exchange_refused', {
        detail: `the provider does not offer ${TOKEN_EXCHANGE_GRANT} (grant_types_supported)`,
      })
    }
    return this.#throughCircuit(() =>
      this.#traced('token_exchange', async () => {
        const configuration = await this.configuration()
        const params: Record<string, string> = {
          subject_token: request.subjectToken,
          subject_token_type: ACCESS_TOKEN_TYPE,
          requested_token_type: ACCESS_TOKEN_TYPE,
        }
        if (request.resource !== undefined) params.resource = request.resource
        if (request.audience !== undefined) params.audience = request.audience
        return oidc.genericGrantRequest(
          configuration,
          TOKEN_EXCHANGE_GRANT,
          params,
          await this.#dpopOptions(configuration, request.dpopKey),
        )
      }),
    )
  }

  /**
   * A DPoP key for a new session when DPoP is on (RFC 9449), else undefined: made before the
   * code exchange, which binds the session's first tokens to it.
   */
  async signInDpopKey(): Promise<string | undefined> {
    await this.configuration()
    return this.#dpop ? newDpopKey() : undefined
  }

  /**
   * openid-client's DPoP option for a token request with a session's key. openid-client
   * answers a use_dpop_nonce refusal by sending the request once more with the nonce given.
   */
  async #dpopOptions(
    configuration: oidc.Configuration,
    dpopKey: string | undefined,
  ): Promise<oidc.DPoPOptions | undefined> {
    if (dpopKey === undefined) return undefined
    return { DPoP: await this.dpopKeys.of(dpopKey).handle(configuration) }
  }

  /**
   * The broker's own token (RFC 6749 §4.4 client credentials grant). Refused without a call
   * when discovery lists the grant types and client_credentials is not among them; raw
   * otherwise (callers classify failures with refresh-policy.ts).
   */
  clientCredentials(request: ClientTokenRequest): Promise<TokenResponse> {
    return this.#throughCircuit(() =>
      this.#traced('client_credentials', () => this.#clientCredentials(request)),
    )
  }

  async #clientCredentials(request: ClientTokenRequest): Promise<TokenResponse> {
    const configuration = await this.configuration()
    if (this.#grantTypes && !this.#grantTypes.includes('client_credentials')) {
      throw new BffError('provider_misconfigured', {
        detail: 'the provider does not offer the client_credentials grant (grant_types_supported)',
      })
    }
    const params: Record<string, string> = {}
    if (request.clientScopes.length > 0) params.scope = request.clientScopes.join(' ')
    if (request.resource) params.resource = request.resource
    return oidc.clientCredentialsGrant(configuration, params)
  }

  /**
   * A token endpoint call through the provider's circuit: refused at once (503
   * provider_unavailable) while it is open. No answer or a 5xx counts as a failure; any other
   * answer, even a refusal (invalid_grant), shows the provider is up.
   */
  async #throughCircuit<T>(call: () => Promise<T>): Promise<T> {
    const circuit = this.tokenCircuit
    if (!circuit) return call()
    if (!circuit.allow()) throw new CircuitOpenError('provider_unavailable', circuit)
    // A call still waiting after OIDC_TIMEOUT_SECONDS (a refresh waits longer, see
    // #refreshConfiguration) counts as a failure then, not only when it ends.
    let counted = false
    const slow = setTimeout(() => {
      counted = true
      circuit.failure()
    }, this.#config.providerTimeoutSeconds * 1000)
    try {
      const result = await call()
      circuit.success()
      return result
    } catch (error) {
      if (translateProviderError(error, 'login_failed').code !== 'provider_unavailable') {
        circuit.success()
      } else if (!counted) {
        circuit.failure()
      }
      throw error
    } finally {
      clearTimeout(slow)
    }
  }

  /**
   * Whether the provider accepts the broker's client credentials, found without a user: a
   * refresh grant with a made-up token. `invalid_grant` (or `invalid_request`,
   * `unsupported_grant_type`) means the client authenticated and only the token was refused;
   * `invalid_client`/`unauthorized_client` throws provider_rejected_client, naming the setting
   * to fix. An answer that tells neither (a 4xx without an error code) is `unverified`. A good
   * or unverifiable answer is kept for the process's life, a refusal for a minute.
   */
  async checkClient(now = elapsedMs()): Promise<'ok' | 'unverified'> {
    const known = this.#clientCheck
    if (known && (known.result !== 'rejected' || now - known.at < CLIENT_RECHECK_MS)) {
      if (known.result === 'rejected') throw known.error
      return known.result
    }
    return this.#traced('client_check', () => this.#checkClient(now))
  }

  async #checkClient(now: number): Promise<'ok' | 'unverified'> {
    const configuration = await this.configuration()
    let result: 'ok' | 'unverified' = 'ok'
    try {
      // With OIDC_REFRESH_PARAMS, as every real refresh: a provider that wants them (a scope)
      // would otherwise answer invalid_request for a reason that is not the client's.
      await oidc.refreshTokenGrant(
        configuration,
        `bff-client-check-${randomId(16)}`,
        this.#config.refreshParams,
      )
    } catch (error) {
      const code = providerErrorCode(error)
      if (clientRefused(error)) {
        const described = providerErrorDescription(error)
        const rejected = new BffError('provider_rejected_client', {
          detail: `${this.#credentialSetting()}: the provider refused the client ${this.#config.clientId} (${code}${described ? `: ${described.slice(0, 200)}` : ''})`,
          cause: error,
        })
        this.#clientCheck = { result: 'rejected', error: rejected, at: now }
        throw rejected
      }
      if (code === undefined) {
        const translated = translateProviderError(error, 'login_failed')
        if (translated.code === 'provider_unavailable') throw translated
      }
      // Only an answer about the made-up token (or the grant) says the client got through;
      // any other (access_denied, server_error…) might be a refused client in other words.
      if (!code || !CLIENT_ACCEPTED.has(code)) result = 'unverified'
    }
    this.#clientCheck = { result, at: now }
    trace.getActiveSpan()?.setAttribute('bff.client_check', result)
    return result
  }

  /** The setting that holds what the provider checks (named in the refusal). */
  #credentialSetting(): string {
    const auth = this.#config.clientAuth
    if (auth === 'private_key_jwt') return 'OIDC_CLIENT_PRIVATE_KEY'
    if (auth.startsWith('client_secret')) return 'OIDC_CLIENT_SECRET'
    return 'OIDC_CLIENT_ID'
  }

  /** RFC 7009 revocation, when the provider advertises an endpoint. Returns whether it was attempted. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
    const configuration = await this.configuration()
    if (!this.#revocationEndpoint) return false
    await this.#traced('revocation', () =>
      oidc.tokenRevocation(configuration, token, { token_type_hint: hint }),
    )
    return true
  }

  /**
   * Where to send the browser after a local logout (see end-session.ts): a POST form to the
   * provider's end_session_endpoint, else a redirect that carries no ID token.
   */
  async endSession(params: EndSessionParams): Promise<EndSession> {
    return endSessionRequest(await this.configuration(), this.#config, params)
  }
}

/** Authorization request parameters of a sign-in's own demands (they replace configured ones). */
function demandParams(
  demands: LoginDemands | undefined,
  maxAge: number | undefined,
): Record<string, string> {
  return {
    ...(demands?.acrValues && { acr_values: demands.acrValues.join(' ') }),
    ...(maxAge !== undefined && { max_age: String(maxAge) }),
    ...(demands?.silent && { prompt: 'none' }),
  }
}

/**
 * A sign-in that asked for acr_values (a step-up) must come back with one of them: acr_values
 * is only a request (OIDC Core §3.1.2.1), and a provider may sign the user in at a lower level.
 */
function checkAcr(tokens: TokenResponse, acrValues: readonly string[] | undefined): void {
  if (!acrValues) return
  const acr = tokens.claims()?.acr
  if (typeof acr === 'string' && acrValues.includes(acr)) return
  throw new BffError('login_failed', {
    detail: `ID token acr ${typeof acr === 'string' ? acr.slice(0, 64) : 'missing'} is not among the acr_values asked for`,
    message:
      'The identity provider did not confirm the stronger sign-in this page needs (acr). Please try again.',
  })
}
