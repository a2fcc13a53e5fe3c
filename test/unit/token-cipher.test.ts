import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { TokenCipher, TokenDecryptionError } from '../../src/session/token-cipher.js'
import type { TokenSet } from '../../src/session/types.js'

const key = (id: number) => ({ id, key: randomBytes(32).toString('base64') })
const tokens: TokenSet = {
  accessToken: 'at-secret',
  refreshToken: 'rt-secret',
  idToken: 'id-secret',
  tokenType: 'Bearer',
  accessTokenExpiresAt: 2e12,
  obtainedAt: 1e12,
  scope: 'openid',
}

describe('TokenCipher', () => {
  it('encrypts the three token fields and keeps expiry, type and scope readable', () => {
    const sealed = new TokenCipher([key(1)]).seal(tokens, 'session-a')
    for (const field of ['accessToken', 'refreshToken', 'idToken'] as const) {
      expect(sealed[field]).toMatch(/^v1\.1\.[\w-]+\.[\w-]+\.[\w-]+$/)
      expect(sealed[field]).not.toContain(tokens[field])
    }
    expect(sealed).toMatchObject({
      tokenType: 'Bearer',
      accessTokenExpiresAt: 2e12,
      scope: 'openid',
    })
  })

  it('opens what it sealed, and two seals of one token differ (random IV)', () => {
    const cipher = new TokenCipher([key(1)])
    const a = cipher.seal(tokens, 'session-a')
    expect(cipher.open(a, 'session-a')).toEqual(tokens)
    expect(cipher.seal(tokens, 'session-a').accessToken).not.toBe(a.accessToken)
  })

  it('encrypts with the highest key id and still opens values of older keys (rotation)', () => {
    const old = key(1)
    const fresh = key(2)
    const before = new TokenCipher([old]).seal(tokens, 's')
    const rotated = new TokenCipher([old, fresh])
    expect(rotated.open(before, 's')).toEqual(tokens)
    expect(rotated.seal(tokens, 's').accessToken.startsWith('v1.2.')).toBe(true)
  })

  it.each<[string, (sealed: TokenSet) => [TokenSet, string, TokenCipher?]]>([
    ['a value of a removed key', (s) => [s, 's', new TokenCipher([key(2)])]],
    ['a value moved to another session', (s) => [s, 'other-session']],
    [
      'a value moved to another field',
      (s) => [{ ...s, accessToken: s.refreshToken as string }, 's'],
    ],
    [
      'a flipped ciphertext bit',
      (s) => {
        const parts = s.accessToken.split('.')
        const body = Buffer.from(parts[3] as string, 'base64url')
        body[0] = (body[0] as number) ^ 1
        parts[3] = body.toString('base64url')
        return [{ ...s, accessToken: parts.join('.') }, 's']
      },
    ],
    ['a plaintext token planted in the store', (s) => [{ ...s, accessToken: 'planted' }, 's']],
  ])('refuses %s', (_name, tamper) => {
    const cipher = new TokenCipher([key(1)])
    const [sealed, sessionKey, opener = cipher] = tamper(cipher.seal(tokens, 's'))
    expect(() => opener.open(sealed, sessionKey)).toThrow(TokenDecryptionError)
  })

  describe('tokens for other audiences (RFC 8707)', () => {
    const withResources: TokenSet = {
      ...tokens,
      resources: {
        'https://reports.test': { ...tokens, accessToken: 'reports-secret', scope: 'r:read' },
        'https://billing.test': { ...tokens, accessToken: 'billing-secret' },
      },
    }

    it('encrypts each one, keeps its expiry and scope readable, and opens them again', () => {
      const cipher = new TokenCipher([key(1)])
      const sealed = cipher.seal(withResources, 's')
      const reports = sealed.resources?.['https://reports.test']
      expect(reports?.accessToken).toMatch(/^v1\.1\./)
      expect(JSON.stringify(sealed)).not.toContain('reports-secret')
      expect(JSON.stringify(sealed)).not.toContain('billing-secret')
      expect(reports).toMatchObject({ scope: 'r:read', accessTokenExpiresAt: 2e12 })
      expect(cipher.open(sealed, 's')).toEqual(withResources)
    })

    it.each<[string, (sealed: TokenSet) => TokenSet]>([
      [
        'one moved under another resource',
        (s) => ({
          ...s,
          resources: {
            'https://reports.test': s.resources?.['https://billing.test'] as TokenSet,
          },
        }),
      ],
      [
        'one moved into the session’s own access token',
        (s) => ({ ...s, accessToken: s.resources?.['https://reports.test']?.accessToken ?? '' }),
      ],
    ])('refuses %s', (_name, tamper) => {
      const cipher = new TokenCipher([key(1)])
      const sealed = tamper(cipher.seal(withResources, 's'))
      expect(() => cipher.open(sealed, 's')).toThrow(TokenDecryptionError)
    })
  })

  it.each([0, 5, 31, 33])('refuses a key of %i bytes', (length) => {
    const value = randomBytes(length).toString('base64')
    expect(() => new TokenCipher([{ id: 1, key: value }])).toThrow(/32 bytes/)
  })
})
