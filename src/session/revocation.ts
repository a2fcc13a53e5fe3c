import { translateProviderError } from '../errors/translate.js'
import type { OidcClient } from '../oidc/client.js'
import type { TokenSet } from './types.js'

export type RevocationOutcome = 'revoked' | 'not_supported' | 'provider_unreachable' | 'failed'

export type TokenHint = 'refresh_token' | 'access_token'

/** What became of one token's revocation; `code` and `detail` (for the log) when it failed. */
export interface TokenRevocation {
  outcome: RevocationOutcome
  code?: string
  detail?: string
}

/**
 * The tokens of a session to revoke, refresh token first. Revoking the refresh token should
 * end the grant's access tokens too (RFC 7009 §2.1 "may"), so the access tokens go as well:
 * the user's own and each one the session holds for another audience (a refresh grant's for a
 * resource, or one from a token exchange, which at many providers is a grant of its own).
 */
export function revocableTokens(tokens: TokenSet): Array<{ token: string; hint: TokenHint }> {
  const list: Array<{ token: string; hint: TokenHint }> = []
  if (tokens.refreshToken) list.push({ token: tokens.refreshToken, hint: 'refresh_token' })
  if (tokens.accessToken) list.push({ token: tokens.accessToken, hint: 'access_token' })
  for (const other of Object.values(tokens.resources ?? {})) {
    if (other.accessToken) list.push({ token: other.accessToken, hint: 'access_token' })
  }
  return list
}

/** One RFC 7009 call through openid-client. Never throws: a failure is an outcome. */
export async function revokeToken(
  oidc: Pick<OidcClient, 'revoke'>,
  token: string,
  hint: TokenHint,
): Promise<TokenRevocation> {
  try {
    return { outcome: (await oidc.revoke(token, hint)) ? 'revoked' : 'not_supported' }
  } catch (error) {
    const failure = translateProviderError(error, 'session_expired')
    return {
      outcome: failure.code === 'provider_unavailable' ? 'provider_unreachable' : 'failed',
      code: failure.code,
      ...(failure.detail ? { detail: failure.detail } : {}),
    }
  }
}

const SEVERITY: readonly RevocationOutcome[] = [
  'revoked',
  'not_supported',
  'failed',
  'provider_unreachable',
]

/** A session's outcome is that of its worst token: unreachable, then failed, then not supported. */
export function sessionOutcome(results: readonly TokenRevocation[]): RevocationOutcome {
  let worst: RevocationOutcome = 'revoked'
  for (const { outcome } of results) {
    if (SEVERITY.indexOf(outcome) > SEVERITY.indexOf(worst)) worst = outcome
  }
  return worst
}
