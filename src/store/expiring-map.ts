import type { Clock } from '../lib/clock.js'

export interface Expiring<T> {
  value: T
  expiresAt: number
}

/** A Map whose entries expire like Redis keys with a TTL: an expired entry is gone on read. */
export class ExpiringMap<T> {
  readonly #entries = new Map<string, Expiring<T>>()
  readonly #clock: Clock

  constructor(clock: Clock) {
    this.#clock = clock
  }

  /** The live entry (mutable: callers may renew it), or undefined. */
  get(key: string): Expiring<T> | undefined {
    const entry = this.#entries.get(key)
    if (entry && entry.expiresAt <= this.#clock.now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  set(key: string, value: T, ttlMs: number): void {
    this.#entries.set(key, { value, expiresAt: this.#clock.now() + ttlMs })
  }

  /** Stores an entry as built by the caller (an index renews its own deadline). */
  put(key: string, entry: Expiring<T>): void {
    this.#entries.set(key, entry)
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }

  /** Keys of live entries (expired ones are swept first). */
  liveKeys(): string[] {
    return [...this.#entries.keys()].filter((key) => this.get(key))
  }

  clear(): void {
    this.#entries.clear()
  }
}
