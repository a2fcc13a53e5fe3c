import { type TokenCipher, TokenDecryptionError } from './token-cipher.js'
import type { SessionData, StoredSession } from './types.js'

/**
 * The token set of a session record sealed for the store and opened from it. With a cipher,
 * every token field is encrypted on every write and decrypted on every read, bound to the
 * session's key, so every store (Redis or memory) holds only ciphertext; without one, records
 * pass as they are.
 */
export class SessionSealer {
  readonly #cipher: TokenCipher | null

  constructor(cipher: TokenCipher | null) {
    this.#cipher = cipher
  }

  seal<T extends SessionData>(key: string, data: T): T {
    return this.#cipher ? { ...data, tokens: this.#cipher.seal(data.tokens, key) } : data
  }

  /** The session with readable tokens, or null when they cannot be decrypted. */
  open(key: string, stored: StoredSession): StoredSession | null {
    if (!this.#cipher) return stored
    try {
      return { ...stored, tokens: this.#cipher.open(stored.tokens, key) }
    } catch (error) {
      if (error instanceof TokenDecryptionError) return null
      throw error
    }
  }
}
