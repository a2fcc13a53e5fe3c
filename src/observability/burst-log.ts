export interface BurstLogOptions<R extends string> {
  /** Every reason a line reports, zero or not, so each line has the same fields. */
  reasons: readonly R[]
  /** A line is written this long after the first event it counts, and no sooner after the last line. */
  intervalMs: number
  write(counts: Record<R, number>): void
}

/**
 * Counts events by reason and writes one line per window: the first event opens a window, and
 * when it closes one line carries every count since. An attacker's thousands of events make one
 * line per `intervalMs`, never one per event, so logging cannot become the attack.
 */
export class BurstLog<R extends string> {
  readonly #options: BurstLogOptions<R>
  #counts = new Map<R, number>()
  #timer: NodeJS.Timeout | undefined

  constructor(options: BurstLogOptions<R>) {
    this.#options = options
  }

  note(reason: R): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1)
    this.#timer ??= setTimeout(() => this.flush(), this.#options.intervalMs).unref()
  }

  /** Writes what is counted now (on shutdown, so no count is lost). */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#counts.size === 0) return
    const counts = Object.fromEntries(
      this.#options.reasons.map((reason) => [reason, this.#counts.get(reason) ?? 0]),
    ) as Record<R, number>
    this.#counts.clear()
    this.#options.write(counts)
  }
}
