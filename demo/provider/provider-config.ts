import { randomBytes } from 'node:crypto'
import type {
  ClientAuthMethod,
  Configuration,
  JWK,
  KoaContextWithOIDC,
  ResourceServer,
} from 'oidc-provider'
import { errors, interactionPolicy } from 'oidc-provider'
import { DEV_TOKEN_EXCHANGE_GRANT } from './dev-token-exchange.js'
import { createFindAccount, type DevUsers } from './dev-users.js'
import { interactionPath } from './interactions.js'
import { errorPage, logoutPage, postLogoutPage } from './pages.js'
import type { SigningAlg } from './signing-key.js'

export interface DevClient {
  client_id: string
  client_secret?: string
  token_endpoint_auth_method: Extract<
    ClientAuthMethod,
    'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
  >
  /** Public keys, for private_key_jwt. */
  jwks?: { keys: JWK[] }
  redirect_uris: string[]
  post_logout_redirect_uris?: string[]
  backchannel_logout_uri?: string
  /** Puts `sid` into ID tokens and logout tokens (the broker's back-channel logout wants it). */
  backchannel_logout_session_required?: boolean
  id_token_signed_response_alg?: SigningAlg
}

export type RefreshTokenPolicy = 'always' | 'offline_access'

export interface ConfigInput {
  issuerPath: string
  signingJwk: JWK
  alg: SigningAlg
  clients: DevClient[]
  users: DevUsers
  accessTokenTtlSeconds: number
  apiAudience: string
  /** More audiences tokens may be issued for (RFC 8707 resource indicators). */
  moreAudiences: string[]
  /** Whether clients may use the client_credentials grant. */
  clientCredentials: boolean
  /** Whether clients may use the dev-only RFC 8693 token exchange (dev-token-exchange.ts). */
  tokenExchange: boolean
  requirePar: boolean
  refreshTokenPolicy: RefreshTokenPolicy
  cookieKeys: string[]
  cookieSameSite: 'lax' | 'none'
  dpopNonces: boolean
}

/** The dev provider's authentication context classes: password, and password plus a one-time code. */
export const ACR_PASSWORD = 'urn:bff:dev:pwd'
export const ACR_TWO_FACTOR = 'urn:bff:dev:2fa'

/** Whether this authorization request accepts the two-factor class and not the password one. */
export function asksTwoFactor(acrValues: unknown): boolean {
  const values = typeof acrValues === 'string' ? acrValues.split(' ') : []
  return values.includes(ACR_TWO_FACTOR) && !values.includes(ACR_PASSWORD)
}

/**
 * oidc-provider treats acr_values as voluntary and never prompts for them; a real provider
 * steps the user up. So: a request asking for the two-factor class, from a session that has
 * not reached it, gets the login prompt again (or login_required with prompt=none).
 */
function interactionPolicyWithStepUp(): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base()
  policy.get('login')?.checks.add(
    new interactionPolicy.Check('acr_values', 'a stronger sign-in is asked for', (ctx) => {
      const { oidc } = ctx
      const stepUp = asksTwoFactor(oidc.params?.acr_values) && oidc.acr !== ACR_TWO_FACTOR
      return stepUp && !oidc.result?.login
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT
    }),
  )
  return policy
}

export const CLIENT_SCOPE = 'openid profile email offline_access api:read'
export const API_SCOPE = 'api:read'

/** A JWT access token for `audience`, as the demo API verifies it. */
export function devResourceServer(
  audience: string,
  alg: SigningAlg,
  accessTokenTtlSeconds: number,
): ResourceServer {
  return {
    scope: API_SCOPE,
    audience,
    accessTokenFormat: 'jwt',
    accessTokenTTL: accessTokenTtlSeconds,
    jwt: { sign: { alg } },
  }
}

export function buildConfiguration(input: ConfigInput): Configuration {
  const { alg, apiAudience, accessTokenTtlSeconds } = input
  const audiences = new Set([apiAudience, ...input.moreAudiences])
  const resourceServer = (audience: string) =>
    devResourceServer(audience, alg, accessTokenTtlSeconds)
  const grantTypes = ['authorization_code', 'refresh_token']
  if (input.clientCredentials) grantTypes.push('client_credentials')
  // Registered by registerDevTokenExchange right after the provider is built.
  if (input.tokenExchange) grantTypes.push(DEV_TOKEN_EXCHANGE_GRANT)

  return {
    clients: input.clients.map((client) => ({
      ...client,
      grant_types: grantTypes,
      response_types: ['code'],
      scope: CLIENT_SCOPE,
      // As most providers do, ID tokens always say when and how strongly the user signed in:
      // oidc-provider adds auth_time and acr only when asked, and these ask on every request.
      require_auth_time: true,
      default_acr_values: [ACR_PASSWORD, ACR_TWO_FACTOR],
      id_token_signed_response_alg: client.id_token_signed_response_alg ?? alg,
    })),
    clientDefaults: { id_token_signed_response_alg: alg },
    // Client metadata may only name scopes the server lists, resource scopes included.
    scopes: CLIENT_SCOPE.split(' '),
    jwks: { keys: [input.signingJwk] },
    enabledJWA: { idTokenSigningAlgValues: [alg] },
    // oidc-provider serves POST at end_session (RP-Initiated Logout 1.0 §2 says it MUST) only
    // when switched on, and refuses that unless its session cookie is SameSite=None: a
    // cross-site POST carries no Lax cookie, so it would not see the user's session.
    enableHttpPostMethods: input.cookieSameSite === 'none',
    cookies: {
      keys: input.cookieKeys,
      ...(input.cookieSameSite === 'none'
        ? {
            long: { httpOnly: true, sameSite: 'none', secure: true },
            short: { httpOnly: true, sameSite: 'none', secure: true },
          }
        : {}),
    },
    findAccount: createFindAccount(input.users),
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
    },
    // Lets ID tokens carry profile claims, as many real providers do.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    acrValues: [ACR_PASSWORD, ACR_TWO_FACTOR],
    interactions: {
      policy: interactionPolicyWithStepUp(),
      url: (_ctx, interaction) => interactionPath(input.issuerPath, interaction.uid),
    },
    features: {
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        // A client may revoke only its own tokens (RFC 7009 §2.1).
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html'
          ctx.body = logoutPage(form)
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html'
          ctx.body = postLogoutPage()
        },
      },
      pushedAuthorizationRequests: {
        enabled: true,
        requirePushedAuthorizationRequests: input.requirePar,
      },
      // RFC 9449: sender-constrained tokens for a client that sends proofs (OIDC_DPOP).
      dPoP: {
        enabled: true,
        ...(input.dpopNonces && { nonceSecret: randomBytes(32), requireNonce: () => true }),
      },
      // The broker's own token (RFC 6749 §4.4), for its `client` routes.
      clientCredentials: { enabled: input.clientCredentials },
      // Without a resource server oidc-provider issues opaque access tokens; the demo
      // API needs JWTs it can verify against the JWKS. RFC 8707: a token request may name
      // any of the audiences its grant covers (the sign-in named them); without one, or
      // when the grant names several, the demo API's audience.
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) =>
          oneOf && !oneOf.includes(apiAudience) ? oneOf : apiAudience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (!audiences.has(indicator)) throw new errors.InvalidTarget()
          return resourceServer(indicator)
        },
      },
    },
    // oidc-provider strips offline_access from requests without prompt=consent, so
    // 'always' does not look at scopes; the consent step still grants offline_access.
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client, source) =>
      client.grantTypeAllowed('refresh_token') &&
      (input.refreshTokenPolicy === 'always' || source.scopes.has('offline_access')),
    // Rotation for confidential clients is off by default; the broker must cope with it.
    rotateRefreshToken: true,
    ttl: {
      AccessToken: accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: 3600,
      Grant: 86_400,
      RefreshToken: 86_400,
      Session: 86_400,
      Interaction: 600,
    },
    // oidc-provider's SSRF guard refuses loopback targets, but here the back-channel
    // logout receiver is a broker on 127.0.0.1, so the guarding dispatcher is dropped.
    fetch: (url, init) => {
      const { dispatcher: _guard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown }
      return globalThis.fetch(url, rest)
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html'
      ctx.body = errorPage(out as unknown as Record<string, unknown>)
    },
  }
}
