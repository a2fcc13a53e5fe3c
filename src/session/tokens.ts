import type { TokenResponse } from '../oidc/client.js'
import type { AccessToken, TokenSet } from './types.js'

/** The access token of a token endpoint response (any grant). */
export function accessTokenFrom(
  response: TokenResponse,
  now: number,
  defaultLifetimeSeconds: number,
): AccessToken {
  const lifetime = response.expiresIn() ?? defaultLifetimeSeconds
  return {
    accessToken: response.access_token,
    tokenType: response.token_type ?? 'Bearer',
    accessTokenExpiresAt: now + lifetime * 1000,
    obtainedAt: now,
    ...(response.scope ? { scope: response.scope } : {}),
  }
}

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
  const { scope: granted, ...access } = accessTokenFrom(response, now, defaultLifetimeSeconds)
  const refreshToken = response.refresh_token ?? previous?.refreshToken
  const idToken = response.id_token ?? previous?.idToken
  const scope = granted ?? previous?.scope
  return {
    ...access,
    ...(refreshToken ? { refreshToken } : {}),
    ...(idToken ? { idToken } : {}),
    ...(scope ? { scope } : {}),
    // The key the tokens are bound to stays the session's for its life.
    ...(previous?.dpopKey ? { dpopKey: previous.dpopKey } : {}),
  }
}

/**
 * When to refresh: `bufferMs` before expiry, but for a token whose whole lifetime is
 * shorter than twice the buffer, at half its life — so short tokens are not refreshed on
 * every request.
 */
export function refreshDueAt(tokens: AccessToken, bufferMs: number): number {
  const lifetime = Math.max(0, tokens.accessTokenExpiresAt - tokens.obtainedAt)
  return tokens.accessTokenExpiresAt - Math.min(bufferMs, lifetime / 2)
}

export function needsRefresh(tokens: AccessToken, now: number, bufferMs: number): boolean {
  return now >= refreshDueAt(tokens, bufferMs)
}

export function isUsable(tokens: AccessToken, now: number): boolean {
  return now < tokens.accessTokenExpiresAt
}

/** The session's access token for `resource` (its own token without one), if it holds one. */
export function tokenFor(tokens: TokenSet, resource: string | undefined): AccessToken | undefined {
  return resource === undefined ? tokens : tokens.resources?.[resource]
}

/** The session's tokens for other audiences that have not expired; undefined when none has. */
export function liveResources(
  tokens: TokenSet,
  now: number,
): Record<string, AccessToken> | undefined {
  const live = Object.entries(tokens.resources ?? {}).filter(([, token]) => isUsable(token, now))
  return live.length > 0 ? Object.fromEntries(live) : undefined
}
