export interface BoundedCacheLimits<V> {
  maxEntries: number
  /** Bytes the entries may take together, as `sizeOf` counts them (oldest go first past it). */
  maxBytes?: number
  sizeOf?: (key: string, value: V) => number
}

/**
 * A small in-process cache with size bounds and per-entry expiry. Oldest entries go first
 * when full (Map keeps insertion order).
 */
export class BoundedCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number; bytes: number }>()
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #sizeOf: (key: string, value: V) => number
  #bytes = 0

  constructor(limits: number | BoundedCacheLimits<V>) {
    const {
      maxEntries,
      maxBytes = Number.POSITIVE_INFINITY,
      sizeOf = () => 0,
    } = typeof limits === 'number' ? { maxEntries: limits } : limits
    this.#maxEntries = maxEntries
    this.#maxBytes = maxBytes
    this.#sizeOf = sizeOf
  }

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= now) {
      this.#delete(key)
      return undefined
    }
    return entry.value
  }

  set(key: string, value: V, expiresAt: number): void {
    this.#delete(key)
    const bytes = this.#sizeOf(key, value)
    this.#entries.set(key, { value, expiresAt, bytes })
    this.#bytes += bytes
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.keys().next().value
      if (oldest === undefined) break
      this.#delete(oldest)
    }
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key)
    if (!entry) return
    this.#entries.delete(key)
    this.#bytes -= entry.bytes
  }

  get size(): number {
    return this.#entries.size
  }

  /** What the entries take together, as `sizeOf` counts them. */
  get bytes(): number {
    return this.#bytes
  }
}
