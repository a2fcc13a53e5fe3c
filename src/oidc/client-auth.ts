import { importJWK, importPKCS8, type JWK } from 'jose'
import * as oidc from 'openid-client'
import type { BffConfig } from '../config/schema.js'

async function importPrivateKey(raw: string, alg: string): Promise<oidc.PrivateKey> {
  const text = raw.trim()
  if (text.startsWith('{')) {
    const jwk = JSON.parse(text) as JWK
    const key = await importJWK(jwk, jwk.alg ?? alg)
    if (!(key instanceof CryptoKey)) throw new Error('expected an asymmetric private JWK')
    return { key, ...(jwk.kid ? { kid: jwk.kid } : {}) }
  }
  return { key: await importPKCS8(text.replace(/\\n/g, '\n'), alg) }
}

/** The openid-client authentication method for the token, PAR and revocation endpoints. */
export async function createClientAuth(config: BffConfig): Promise<oidc.ClientAuth> {
  switch (config.clientAuth) {
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(config.clientSecret)
    case 'client_secret_post':
      return oidc.ClientSecretPost(config.clientSecret)
    case 'private_key_jwt': {
      if (!config.clientPrivateKey) throw new Error('private_key_jwt needs a private key')
      return oidc.PrivateKeyJwt(
        await importPrivateKey(config.clientPrivateKey, config.clientPrivateKeyAlg),
      )
    }
  }
}
