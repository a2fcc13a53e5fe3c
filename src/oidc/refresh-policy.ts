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

/**
 * What a refused token exchange (RFC 8693) means. An exchange spends nothing (its subject token
 * is the user's access token, which stays valid), so no refusal ends the session by itself:
 * - `client_rejected`: the broker's own client (RFC 6749 §5.2 invalid_client, unauthorized_client).
 * - `subject_refused`: invalid_request, which RFC 8693 §2.2.2 prescribes for a subject token that
 *   is invalid for any reason (and for a malformed request), or invalid_grant, which providers
 *   also send: the subject token may have been revoked before its expiry. Refresh the user's
 *   token and exchange once more; a refresh that is refused ends the session by the refresh
 *   rules above, a fresh token refused again is `forbidden` (invalid_grant) or `refused`
 *   (invalid_request: the request itself, or the provider's policy).
 * - `forbidden`: the provider will not give this user a token for that audience (invalid_target,
 *   access_denied): a 403, the user's session and other routes are fine.
 * - `refused`: the provider refuses the exchange itself, whoever asks (unsupported_grant_type,
 *   invalid_scope, a 4xx without a code, an answer that is not a usable token response): a
 *   setup to fix, 502.
 * - `transient`: network, timeout, 429, 5xx: keep the session, use the exchanged token while it
 *   is valid, else 503.
 */
export type ExchangeFailure =
  | 'transient'
  | 'client_rejected'
  | 'subject_refused'
  | 'forbidden'
  | 'refused'

const EXCHANGE_FORBIDDEN_CODES = new Set(['invalid_target', 'access_denied'])

export function classifyExchangeFailure(error: unknown): ExchangeFailure {
  if (clientRefused(error)) return 'client_rejected'
  const code = providerErrorCode(error)
  const status = providerStatus(error)
  if (code === 'invalid_grant' || code === 'invalid_request') return 'subject_refused'
  if (code !== undefined && EXCHANGE_FORBIDDEN_CODES.has(code)) return 'forbidden'
  if (code === 'temporarily_unavailable' || code === 'server_error') return 'transient'
  if (status !== undefined && (status >= 500 || status === 408 || status === 429)) {
    return 'transient'
  }
  if (code !== undefined) return 'refused'
  if (validationCode(error)) return 'refused'
  if (status !== undefined && status >= 400) return 'refused'
  return 'transient'
}
