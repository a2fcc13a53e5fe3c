import { createPublicKey, type KeyObject } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import type Provider from 'oidc-provider'
import type { JWK, ResourceServer, TokenEndpointGrantContext } from 'oidc-provider'
import { errors } from 'oidc-provider'
import type { DevUsers } from './dev-users.js'
import type { SigningAlg } from './signing-key.js'

/**
 * DEV ONLY. RFC 8693 token exchange for the dev provider, so the broker's `token_exchange` routes
 * can be tried and tested against a real oidc-provider (which has no exchange of its own). It
 * exchanges an access token this provider issued to the requesting client for a JWT access token
 * for one known audience, for the same user. It does no delegation (`actor_token`), no scope
 * down-selection and no exchange of DPoP-bound tokens. Not a model for a production provider.
 */
export const DEV_TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

/** RFC 8693 §2.1 parameters the token endpoint keeps for this grant (others are dropped). */
const PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'requested_token_type',
  'resource',
  'audience',
]

interface ExchangeParams {
  subject_token?: string
  subject_token_type?: string
  requested_token_type?: string
  resource?: string
  audience?: string
}

export interface DevTokenExchangeOptions {
  /** Resource indicators and logical audience names a token may be exchanged for. */
  audiences: ReadonlySet<string>
  resourceServer: (audience: string) => ResourceServer
  /** The provider's signing key (private JWK): its JWT access tokens are verified with it. */
  signingJwk: JWK
  alg: SigningAlg
  users: DevUsers
}

/** Who a verified subject token stands for. */
interface Subject {
  accountId: string
  scopes: string[]
  /** The grant an opaque token belongs to (a JWT from this provider names none). */
  grantId: string | undefined
}

/**
 * Registers the grant; a client may use it only when its `grant_types` list it (oidc-provider
 * answers any other client `invalid_request`, "requested grant type is not allowed").
 */
export function registerDevTokenExchange(provider: Provider, options: DevTokenExchangeOptions) {
  const publicKey = createPublicKey({ key: options.signingJwk as never, format: 'jwk' })
  provider.registerGrantType<ExchangeParams>(
    DEV_TOKEN_EXCHANGE_GRANT,
    async function devTokenExchange(ctx) {
      const { params, client } = ctx.oidc
      if (!params.subject_token) throw new errors.InvalidRequest('missing subject_token')
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest('dev provider: subject_token_type must be an access token')
      }
      if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest('dev provider: only access tokens are issued')
      }
      const target = targetOf(params, options.audiences)
      const subject = await verifySubject(ctx, params.subject_token, publicKey, options)
      const resourceServer = options.resourceServer(target)
      const token = new provider.AccessToken({
        accountId: subject.accountId,
        client,
        // A JWT subject token names no grant; the new token is not revocable by grant then.
        grantId: subject.grantId ?? '',
        gty: 'token_exchange',
      })
      token.resourceServer = new provider.ResourceServer(target, resourceServer)
      const allowed = new Set(resourceServer.scope.split(' '))
      token.scope = subject.scopes.filter((s) => allowed.has(s)).join(' ') || undefined
      ctx.oidc.entity('AccessToken', token)
      const value = await token.save()
      ctx.body = {
        access_token: value,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: token.tokenType,
        expires_in: token.expiration,
        ...(token.scope && { scope: token.scope }),
      }
    },
    PARAMETERS,
  )
}

/** The one audience asked for: `resource` and/or `audience`, the same known one when both. */
function targetOf(params: ExchangeParams, audiences: ReadonlySet<string>): string {
  const named = [params.resource, params.audience].filter((v): v is string => Boolean(v))
  const [target] = named
  if (!target) throw new errors.InvalidTarget('resource or audience is required')
  if (named.some((n) => n !== target) || !audiences.has(target)) {
    throw new errors.InvalidTarget('dev provider: no token is exchanged for this audience')
  }
  return target
}

/**
 * The subject token, verified for real: issued by this provider to this very client, for a
 * user it knows, not expired, and (opaque ones, which are stored) not revoked. A JWT is checked
 * against the provider's own key; it cannot be revoked before it expires.
 */
async function verifySubject(
  ctx: TokenEndpointGrantContext<ExchangeParams>,
  value: string,
  publicKey: KeyObject,
  options: DevTokenExchangeOptions,
): Promise<Subject> {
  // RFC 8693 §2.2.2: a subject token invalid for any reason is answered invalid_request.
  const { provider, client } = ctx.oidc
  let subject: Subject & { clientId: unknown; bound: boolean }
  if (looksLikeJwt(value)) {
    const { payload } = await jwtVerify(value, publicKey, {
      issuer: provider.issuer,
      algorithms: [options.alg],
      typ: 'at+jwt',
      requiredClaims: ['sub', 'exp', 'client_id'],
    }).catch(() => {
      throw new errors.InvalidRequest('subject token invalid or expired')
    })
    subject = {
      accountId: String(payload.sub),
      clientId: payload.client_id,
      scopes: typeof payload.scope === 'string' ? payload.scope.split(' ') : [],
      grantId: undefined,
      bound: payload.cnf !== undefined,
    }
  } else {
    const stored = await provider.AccessToken.find(value)
    if (!stored || stored.isExpired || !(await provider.Grant.find(stored.grantId))) {
      throw new errors.InvalidRequest('subject token invalid, expired or revoked')
    }
    subject = {
      accountId: stored.accountId,
      clientId: stored.clientId,
      scopes: [...stored.scopes],
      grantId: stored.grantId,
      bound: stored.isSenderConstrained(),
    }
  }
  // RFC 8693 §5: whom a token may be exchanged by is the provider's policy; this one lets a
  // client exchange only the tokens it was itself issued.
  if (subject.clientId !== client.clientId) {
    throw new errors.InvalidRequest('subject token was issued to another client')
  }
  if (subject.bound) {
    throw new errors.InvalidRequest('dev provider: DPoP-bound subject tokens are not exchanged')
  }
  if (!options.users[subject.accountId]) throw new errors.InvalidRequest('unknown subject')
  return subject
}

function looksLikeJwt(value: string): boolean {
  if (value.split('.').length !== 3) return false
  try {
    decodeProtectedHeader(value)
    return true
  } catch {
    return false
  }
}
