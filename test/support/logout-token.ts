import { randomUUID } from 'node:crypto'
import {
  base64url,
  type CryptoKey,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWTPayload,
  SignJWT,
} from 'jose'
import type { ScriptedProvider } from './scripted-provider.js'

export const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

export interface LogoutTokenPlan {
  /** Rewrite the default claims (iss, aud, iat, jti, events, sid 'sid-1', sub 'user-1'). */
  claims?: (defaults: Record<string, unknown>) => Record<string, unknown>
  /** Rewrite the default header ({ alg: RS256, kid, typ: logout+jwt }). */
  header?: (defaults: Record<string, unknown>) => Record<string, unknown>
  /** Provider key (default), a key the provider does not publish, `none`, or HS256 keyed with the public key. */
  sign?: 'provider' | 'rogue' | 'none' | 'hs256-with-public-key'
  /** Another private key to sign with (its algorithm must match the header's). */
  key?: CryptoKey
}

const epoch = () => Math.floor(Date.now() / 1000)

/**
 * Forges logout tokens as the scripted provider (or an attacker) would sign them, with jose
 * and the provider's published RSA key, so every validation rule can be attacked alone.
 */
export async function forgeLogoutToken(
  provider: ScriptedProvider,
  clientId: string,
  plan: LogoutTokenPlan = {},
): Promise<string> {
  const defaults = {
    iss: provider.issuer,
    aud: clientId,
    iat: epoch(),
    jti: randomUUID(),
    events: { [LOGOUT_EVENT]: {} },
    sid: 'sid-1',
    sub: 'user-1',
  }
  const claims = plan.claims ? plan.claims(defaults) : defaults
  const sign = plan.sign ?? 'provider'
  const headerDefaults: Record<string, unknown> = {
    alg: sign === 'none' ? 'none' : sign === 'hs256-with-public-key' ? 'HS256' : 'RS256',
    kid: provider.keys.rsa.kid,
    typ: 'logout+jwt',
  }
  const header = plan.header ? plan.header(headerDefaults) : headerDefaults
  if (sign === 'none') {
    const encode = (value: unknown) => base64url.encode(JSON.stringify(value))
    return `${encode(header)}.${encode(claims)}.`
  }
  let key: CryptoKey | Uint8Array
  if (plan.key) key = plan.key
  else if (sign === 'rogue') key = (await generateKeyPair('RS256')).privateKey
  else if (sign === 'hs256-with-public-key') {
    const publicKey = await importJWK({ ...provider.keys.rsa.publicJwk, alg: 'RS256' }, 'RS256')
    key = new TextEncoder().encode(await exportSPKI(publicKey as CryptoKey))
  } else key = provider.keys.rsa.privateKey
  return new SignJWT(claims as JWTPayload).setProtectedHeader(header as { alg: string }).sign(key)
}

/** POSTs a logout token the way a provider does: form-encoded, no cookies. */
export function postLogoutToken(brokerUrl: string, token: string, init: RequestInit = {}) {
  return fetch(`${brokerUrl}/auth/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }),
    ...init,
  })
}
