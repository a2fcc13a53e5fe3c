import type { TokenResponse } from '../oidc/client.js'
import type { TokenSet } from './types.js'

/**
 * The token set to store from a token endpoint response. On refresh, a provider that does
 * not rotate returns no refresh token (or ID token): keep the previous one then.
 */
export function tokenSetFrom(
  response: TokenResponse,
  now: number,
  defaultLifetimeSeconds: number,
  previous?: TokenSet,
): TokenSet {
  const lifetime = response.expiresIn() ?? defaultLifetimeSeconds
  const refreshToken = response.refresh_token ?? previous?.refreshToken
  const idToken = response.id_token ?? previous?.idToken
  const scope = response.scope ?? previous?.scope
  return {
    accessToken: response.access_token,
    tokenType: response.token_type ?? 'Bearer',
    accessTokenExpiresAt: now + lifetime * 1000,
    obtainedAt: now,
    ...(refreshToken ? { refreshToken } : {}),
    ...(idToken ? { idToken } : {}),
    ...(scope ? { scope } : {}),
  }
}

/**
 * When to refresh: `bufferMs` before expiry, but for a token whose whole lifetime is
 * shorter than twice the buffer, at half its life — so short tokens are not refreshed on
 * every request.
 */
export function refreshDueAt(tokens: TokenSet, bufferMs: number): number {
  const lifetime = Math.max(0, tokens.accessTokenExpiresAt - tokens.obtainedAt)
  return tokens.accessTokenExpiresAt - Math.min(bufferMs, lifetime / 2)
}

export function needsRefresh(tokens: TokenSet, now: number, bufferMs: number): boolean {
  return now >= refreshDueAt(tokens, bufferMs)
}

export function isUsable(tokens: TokenSet, now: number): boolean {
  return now < tokens.accessTokenExpiresAt
}
