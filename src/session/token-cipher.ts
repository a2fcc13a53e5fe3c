import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { decodeKey } from '../lib/encryption-key.js'
import type { TokenSet } from './types.js'

export interface TokenEncryptionKey {
  id: number
  /** 32 random bytes, base64 or base64url. */
  key: string
}

const FORMAT = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16
const SECRET_FIELDS = ['accessToken', 'refreshToken', 'idToken', 'dpopKey'] as const

/** Thrown when a stored token cannot be opened: unknown key id, tampered, moved, or plaintext. */
export class TokenDecryptionError extends Error {
  constructor(reason: string) {
    super(`stored token not usable: ${reason}`)
    this.name = 'TokenDecryptionError'
  }
}

/**
 * Encryption at rest of the secret fields of a token set (access, refresh and ID token, and the
 * access token for each other audience it holds), so a dump of the store yields nothing usable. AES-256-GCM (NIST SP 800-38D) with a random 96-bit
 * IV per value; a field is stored as `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url). The
 * additional authenticated data binds each value to its session key and field name (for another
 * audience's token, `accessToken@<resource>`), so a ciphertext copied into another session, into
 * another field or under another resource, fails to open. The highest
 * key id encrypts; every configured id decrypts, so keys rotate without ending sessions.
 * Expiry times, token type and scope stay readable (operator tooling shows them).
 */
export class TokenCipher {
  readonly #keys: Map<number, Buffer>
  readonly #current: number

  constructor(keys: readonly TokenEncryptionKey[]) {
    if (keys.length === 0) throw new Error('TokenCipher needs at least one key')
    this.#keys = new Map()
    for (const { id, key } of keys) {
      const bytes = decodeKey(key)
      if (!bytes) throw new Error(`token encryption key ${id} is not 32 bytes of base64`)
      this.#keys.set(id, bytes)
    }
    this.#current = Math.max(...this.#keys.keys())
  }

  /** `sessionKey` binds the ciphertext to its place: a session's key, or a shared token's name. */
  seal<T extends TokenSet>(tokens: T, sessionKey: string): T {
    return this.#map(tokens, (value, field) => this.#encrypt(value, sessionKey, field))
  }

  /** The plaintext token set; throws TokenDecryptionError for anything it cannot open. */
  open<T extends TokenSet>(tokens: T, sessionKey: string): T {
    return this.#map(tokens, (value, field) => this.#decrypt(value, sessionKey, field))
  }

  #map<T extends TokenSet>(tokens: T, apply: (value: string, field: string) => string): T {
    const out: T = { ...tokens }
    for (const field of SECRET_FIELDS) {
      const value = tokens[field]
      if (value !== undefined) out[field] = apply(value, field)
    }
    if (tokens.resources) {
      out.resources = Object.fromEntries(
        Object.entries(tokens.resources).map(([resource, token]) => [
          resource,
          { ...token, accessToken: apply(token.accessToken, `accessToken@${resource}`) },
        ]),
      )
    }
    return out
  }

  #aad(keyId: number, sessionKey: string, field: string): Buffer {
    return Buffer.from(JSON.stringify([FORMAT, keyId, sessionKey, field]))
  }

  #encrypt(plaintext: string, sessionKey: string, field: string): string {
    const key = this.#keys.get(this.#current) as Buffer
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(this.#aad(this.#current, sessionKey, field))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    const parts = [iv, body, cipher.getAuthTag()].map((b) => b.toString('base64url'))
    return [FORMAT, String(this.#current), ...parts].join('.')
  }

  #decrypt(stored: string, sessionKey: string, field: string): string {
    const [format, id, iv, body, tag, ...rest] = stored.split('.')
    if (format !== FORMAT || rest.length > 0 || !id || !iv || body === undefined || !tag) {
      throw new TokenDecryptionError('not an encrypted value')
    }
    const keyId = Number(id)
    const key = this.#keys.get(keyId)
    if (!key) throw new TokenDecryptionError(`unknown key id ${id}`)
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      })
      decipher.setAAD(this.#aad(keyId, sessionKey, field))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]).toString('utf8')
    } catch {
      throw new TokenDecryptionError('authentication failed')
    }
  }
}
