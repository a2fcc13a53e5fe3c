import type { Logger } from 'pino'
import { translateProviderError } from '../errors/translate.js'
import type { OidcClient } from '../oidc/client.js'
import type { TokenSet } from './types.js'

export type RevocationOutcome = 'revoked' | 'not_supported' | 'provider_unreachable' | 'failed'

/**
 * RFC 7009 revocation of a session's refresh and access tokens, after the session is deleted.
 * Revoking the refresh token should end the grant's access tokens too (§2.1 "may"), so the
 * access token is revoked as well. Never throws: failures are logged and reported.
 */
export async function revokeTokens(
  deps: { oidc: OidcClient; logger: Logger },
  tokens: TokenSet,
  event: string,
): Promise<RevocationOutcome> {
  const jobs: Array<[string, 'refresh_token' | 'access_token']> = []
  if (tokens.refreshToken) jobs.push([tokens.refreshToken, 'refresh_token'])
  if (tokens.accessToken) jobs.push([tokens.accessToken, 'access_token'])
  const results = await Promise.allSettled(
    jobs.map(([token, hint]) => deps.oidc.revoke(token, hint)),
  )
  let outcome: RevocationOutcome = 'revoked'
  results.forEach((result, i) => {
    const hint = jobs[i]?.[1]
    if (result.status === 'fulfilled') {
      if (!result.value) outcome = 'not_supported'
      return
    }
    const error = translateProviderError(result.reason, 'session_expired')
    if (error.code === 'provider_unavailable') outcome = 'provider_unreachable'
    else if (outcome !== 'provider_unreachable') outcome = 'failed'
    deps.logger.warn(
      { event: `${event}.revocation_failed`, hint, code: error.code, detail: error.detail },
      'token not revoked',
    )
  })
  if (outcome === 'revoked' && jobs.length > 0) {
    deps.logger.info({ event: `${event}.revoked`, count: jobs.length }, 'tokens revoked')
  }
  return outcome
}
