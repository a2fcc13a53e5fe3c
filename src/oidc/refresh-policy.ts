import { providerErrorCode, providerStatus } from '../errors/translate.js'

export type RefreshFailure = 'fatal' | 'transient'

/** OAuth error codes after which retrying the same refresh token can never succeed. */
const FATAL_CODES = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'invalid_scope',
])

/**
 * Fatal: the grant is gone (revoked, expired, reused) — end the session.
 * Transient: network, timeout, 5xx, or a response we could not read — keep the session.
 * A dead refresh token answered with a non-JSON 4xx is treated as fatal too.
 */
export function classifyRefreshFailure(error: unknown): RefreshFailure {
  const code = providerErrorCode(error)
  if (code !== undefined) return FATAL_CODES.has(code) ? 'fatal' : 'transient'
  const status = providerStatus(error)
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return 'fatal'
  }
  return 'transient'
}
