import { randomBytes, webcrypto } from 'node:crypto'
import {
  base64url,
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
} from 'jose'

export type SignMode =
  | 'rs256'
  | 'es256'
  | 'none'
  | 'hs256-with-public-key'
  | 'rs256-wrong-key'
  | 'garbage-signature'

export interface IdTokenPlan {
  /** defaults: iss, sub 'user-1', aud clientId, exp now+300, iat now, nonce (if any), sid, name, email */
  claims?: (defaults: Record<string, unknown>) => Record<string, unknown>
  /** defaults depend on `sign`: { alg, kid, typ: 'JWT' } (no kid for 'none') */
  header?: (defaults: Record<string, unknown>) => Record<string, unknown>
  sign?: SignMode
}

export interface SigningKey {
  privateKey: CryptoKey
  publicKey: CryptoKey
  publicJwk: JWK
  kid: string
}

export interface ProviderKeys {
  rsa: SigningKey
  ec: SigningKey
  /** Not published in the JWKS; used by 'rs256-wrong-key' under the rsa kid. */
  rogueRsa: SigningKey
}

async function makeKey(alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  return { privateKey, publicKey, kid, publicJwk: { ...jwk, kid, alg, use: 'sig' } }
}

export async function generateProviderKeys(): Promise<ProviderKeys> {
  const [rsa, ec, rogueRsa] = await Promise.all([
    makeKey('RS256'),
    makeKey('ES256'),
    makeKey('RS256'),
  ])
  return { rsa, ec, rogueRsa }
}

export function defaultHeader(keys: ProviderKeys, sign: SignMode): Record<string, unknown> {
  switch (sign) {
    case 'es256':
      return { alg: 'ES256', kid: keys.ec.kid, typ: 'JWT' }
    case 'none':
      return { alg: 'none', typ: 'JWT' }
    case 'hs256-with-public-key':
      return { alg: 'HS256', kid: keys.rsa.kid, typ: 'JWT' }
    default:
      return { alg: 'RS256', kid: keys.rsa.kid, typ: 'JWT' }
  }
}

const encoder = new TextEncoder()

/**
 * Signs by hand with WebCrypto using the key implied by `sign`, whatever the header says, so a
 * plan can also lie in its header (e.g. alg ES256 over an RSA signature).
 */
export async function signIdToken(
  keys: ProviderKeys,
  sign: SignMode,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Promise<string> {
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`
  const data = encoder.encode(input)
  const subtle = webcrypto.subtle
  let signature: Uint8Array
  switch (sign) {
    case 'none':
      return `${input}.`
    case 'garbage-signature':
      signature = randomBytes(256)
      break
    case 'es256':
      signature = new Uint8Array(
        await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.ec.privateKey, data),
      )
      break
    case 'hs256-with-public-key': {
      // Classic key-confusion attack: the verifier's own public key (PEM) used as an HMAC secret.
      const pem = await exportSPKI(keys.rsa.publicKey)
      const secret = await subtle.importKey(
        'raw',
        encoder.encode(pem),
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['sign'],
      )
      signature = new Uint8Array(await subtle.sign('HMAC', secret, data))
      break
    }
    case 'rs256-wrong-key':
      signature = new Uint8Array(
        await subtle.sign('RSASSA-PKCS1-v1_5', keys.rogueRsa.privateKey, data),
      )
      break
    default:
      signature = new Uint8Array(await subtle.sign('RSASSA-PKCS1-v1_5', keys.rsa.privateKey, data))
  }
  return `${input}.${base64url.encode(signature)}`
}
