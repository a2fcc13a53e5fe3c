import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { askedNonce, DpopKey, DpopKeys, isDpopBound, newDpopKey } from '../../src/oidc/dpop.js'

describe('DPoP proofs', () => {
  it('signs a proof with the public key in its header, for the method and URL without query, with ath', async () => {
    const key = new DpopKey(newDpopKey())
    const proof = key.proof('POST', 'https://api.internal', '/v1/orders?page=2', 'the-token')
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' })
    expect(protectedHeader.alg).toBe('ES256')
    expect(protectedHeader.jwk).not.toHaveProperty('d')
    expect(payload).toMatchObject({
      htm: 'POST',
      htu: 'https://api.internal/v1/orders',
      ath: createHash('sha256').update('the-token').digest('base64url'),
    })
    expect(Math.abs((payload.iat ?? 0) - Date.now() / 1000)).toBeLessThan(5)
    expect(payload).not.toHaveProperty('nonce')
    expect(await calculateJwkThumbprint(protectedHeader.jwk ?? {})).toBe(key.thumbprint)
  })

  it('makes every proof unique (jti) and carries the nonce the origin gave, to that origin only', async () => {
    const keys = new DpopKeys()
    const one = keys.of(newDpopKey())
    const two = keys.of(newDpopKey())
    const a = await jwtVerify(one.proof('GET', 'https://a.internal', '/x'), EmbeddedJWK)
    const b = await jwtVerify(one.proof('GET', 'https://a.internal', '/x'), EmbeddedJWK)
    expect(a.payload.jti).not.toBe(b.payload.jti)
    one.learnNonce('https://a.internal', 'n-1')
    // Nonces are shared between the sessions' keys, per origin.
    const withNonce = await jwtVerify(two.proof('GET', 'https://a.internal', '/x'), EmbeddedJWK)
    expect(withNonce.payload.nonce).toBe('n-1')
    const other = await jwtVerify(two.proof('GET', 'https://b.internal', '/x'), EmbeddedJWK)
    expect(other.payload).not.toHaveProperty('nonce')
  })

  it('parses each private key once', () => {
    const keys = new DpopKeys()
    const jwk = newDpopKey()
    expect(keys.of(jwk)).toBe(keys.of(jwk))
    expect(decodeProtectedHeader(keys.of(jwk).proof('GET', 'https://a', '/')).typ).toBe('dpop+jwt')
  })

  it('knows a DPoP-bound token type and a nonce demand', () => {
    expect(isDpopBound('DPoP')).toBe(true)
    expect(isDpopBound('dpop')).toBe(true)
    expect(isDpopBound('Bearer')).toBe(false)
    const headers = (challenge: string, nonce?: string) => ({
      'www-authenticate': challenge,
      ...(nonce && { 'dpop-nonce': nonce }),
    })
    expect(askedNonce(401, headers('DPoP error="use_dpop_nonce"', 'n'))).toBe('n')
    expect(askedNonce(401, headers('DPoP algs="ES256", error="use_dpop_nonce"', 'n'))).toBe('n')
    expect(askedNonce(401, headers('DPoP error="invalid_dpop_proof"', 'n'))).toBeUndefined()
    expect(askedNonce(401, headers('DPoP error="use_dpop_nonce"'))).toBeUndefined()
    expect(askedNonce(400, headers('DPoP error="use_dpop_nonce"', 'n'))).toBeUndefined()
  })
})
