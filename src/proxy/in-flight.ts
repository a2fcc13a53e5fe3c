/** Hands a taken slot back; calling it more than once has no further effect. */
export type Release = () => void

/**
 * How many /api requests each session has in progress on this instance, capped: nothing one
 * client does may hold a shared resource for long, and a session's requests each hold a
 * socket, memory for its body and, once forwarded, a pooled upstream connection. Exact on
 * one instance (one event loop counts), not shared between instances.
 */
export class InFlightLimit {
  readonly #counts = new Map<string, number>()
  readonly max: number

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error('max must be a positive integer')
    this.max = max
  }

  /** A slot for this session (store key), or null when all `max` are taken. */
  acquire(key: string): Release | null {
    const count = this.#counts.get(key) ?? 0
    if (count >= this.max) return null
    this.#counts.set(key, count + 1)
    let held = true
    return () => {
      if (!held) return
      held = false
      const left = (this.#counts.get(key) ?? 1) - 1
      if (left <= 0) this.#counts.delete(key)
      else this.#counts.set(key, left)
    }
  }

  /** Requests this session has in progress here. */
  count(key: string): number {
    return this.#counts.get(key) ?? 0
  }
}
