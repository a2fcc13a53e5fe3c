/**
 * Bytes of request bodies this process may hold in memory at once, across every request:
 * bodies are read completely before they are forwarded, so without a bound many sessions
 * trickling the last byte of large bodies would hold MAX_BODY_BYTES each for the whole body
 * deadline. Past it a request gets 503 server_busy and its connection is closed.
 */
export class BodyBudget {
  readonly maxBytes: number
  #held = 0

  constructor(maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new Error('maxBytes must be positive')
    this.maxBytes = maxBytes
  }

  /** Takes `bytes` when they fit; false (nothing taken) otherwise. */
  take(bytes: number): boolean {
    if (this.#held + bytes > this.maxBytes) return false
    this.#held += bytes
    return true
  }

  give(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes)
  }

  get held(): number {
    return this.#held
  }
}
