import { clientRefused, providerErrorCode, providerStatus } from '../errors/translate.js'

export type RefreshFailure = 'fatal' | 'transient' | 'client_rejected'

/**
 * OAuth error codes after which retrying the same refresh token can never succeed. Among them
 * RFC 8707 §2 `invalid_target`: the grant does not cover the resource asked for (a route added
 * after the user signed in). A provider may rotate the refresh token before it looks at the
 * resource (oidc-provider does), so the session cannot be trusted to hold a live one; ending
 * it sends the user to a sign-in that asks for the resource.
 */
const FATAL_CODES = new Set(['invalid_grant', 'invalid_scope', 'invalid_target'])

/**
 * oauth4webapi codes for a token response that arrived and was refused by the ID token checks
 * (signature, alg, iss, aud, azp, exp, iat). The provider has already rotated the refresh token
 * by then, so keeping the session would only keep a spent token: end it instead.
 */
const VALIDATION_CODES = new Set([
  'OAUTH_INVALID_RESPONSE',
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
  'OAUTH_UNSUPPORTED_OPERATION',
])

function validationCode(error: unknown): string | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined
  return typeof code === 'string' && VALIDATION_CODES.has(code) ? code : undefined
}

/**
 * Fatal: the grant is gone (revoked, expired, reused) — end the session.
 * Transient: network, timeout, 5xx, or a response we could not read — keep the session.
 * Client rejected: the broker's client was refused — keep the session, the fault is not its.
 * A dead refresh token answered with a non-JSON 4xx is treated as fatal too.
 */
export function classifyRefreshFailure(error: unknown): RefreshFailure {
  const code = providerErrorCode(error)
  // RFC 6749 §5.2: the broker's own client was refused before the user's grant was looked at.
  // The refresh token is not spent, and every session would be ended for a registration fault.
  if (clientRefused(error)) return 'client_rejected'
  if (code !== undefined) return FATAL_CODES.has(code) ? 'fatal' : 'transient'
  const status = providerStatus(error)
  // A refused ID token, unless the failure was fetching the keys from a provider in trouble.
  if (validationCode(error) && (status === undefined || status < 500)) return 'fatal'
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return 'fatal'
  }
  return 'transient'
}

/**
 * The same for the broker's client-credentials grant, where a provider that does not offer
 * the grant (RFC 6749 §5.2 unsupported_grant_type) is a configuration error too.
 */
export function classifyClientTokenFailure(error: unknown): RefreshFailure {
  return providerErrorCode(error) === 'unsupported_grant_type'
    ? 'fatal'
    : classifyRefreshFailure(error)
}
