/** Injectable time source so expiry logic is testable without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/**
 * Milliseconds on the process's monotonic clock, for waits and deadlines kept with timers (a
 * lock's back-off, a request's share of a token call): never the injected Clock, which a test
 * moves forward or holds still while timers run in real time.
 */
export function elapsedMs(): number {
  return performance.now()
}
