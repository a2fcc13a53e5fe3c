import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, type JWK } from 'jose'

export type SigningAlg = 'RS256' | 'PS256' | 'ES256'

/** A fresh private signing key per start, so nothing signed by an old run ever verifies. */
export async function createSigningJwk(alg: SigningAlg): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: `dev-${alg.toLowerCase()}-${randomUUID()}`, alg, use: 'sig' }
}
