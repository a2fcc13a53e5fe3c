import { BffError } from '../errors/bff-error.js'
import { storeCall } from '../errors/store-call.js'
import { elapsedMs } from '../lib/clock.js'
import type { LockStore } from '../store/interfaces.js'

/** A held refresh lock; renews itself until released so a slow provider cannot let a second holder in. */
export interface HeldLock {
  /** False once a renewal failed: another holder may have taken over, so do not write. */
  readonly held: boolean
  release(): Promise<void>
}

/**
 * The cross-instance half of single-flight refresh: `SET NX PX` with a random token,
 * renewed every third of its TTL while held, released by compare-and-delete.
 */
export class RefreshLock {
  readonly #store: LockStore
  readonly #ttlMs: number

  constructor(store: LockStore, ttlMs: number) {
    this.#store = store
    this.#ttlMs = ttlMs
  }

  get ttlMs(): number {
    return this.#ttlMs
  }

  #name(subject: string): string {
    return `refresh:${subject}`
  }

  /**
   * The lock for a session (by its key; one lock for every token obtained with its refresh
   * token) or for a shared token (by its name), or null when another request (anywhere)
   * holds it.
   */
  async tryAcquire(subject: string): Promise<HeldLock | null> {
    const name = this.#name(subject)
    const token = await storeCall('acquire refresh lock', () =>
      this.#store.acquireLock(name, this.#ttlMs),
    )
    if (!token) return null
    let held = true
    const renew = setInterval(() => {
      this.#store.extendLock(name, token, this.#ttlMs).then(
        (extended) => {
          if (!extended) held = false
        },
        () => {
          held = false
        },
      )
    }, this.#ttlMs / 3)
    renew.unref()
    return {
      get held() {
        return held
      },
      release: async () => {
        clearInterval(renew)
        // A lost lock needs no release; a failed release expires with its TTL.
        await this.#store.releaseLock(name, token).catch(() => false)
      },
    }
  }

  /**
   * Runs `holding` with the subject's lock held (released after, also when it fails), or waits
   * for whoever holds it: short sleeps, each round asking `settled` first, with `waited` true
   * once it has waited. What `settled` returns ends the wait without the lock (the holder's
   * result is there to read, or a fallback is good enough); undefined goes on. The wait is
   * bounded by the lock's TTL and a second, then 503 lock_timeout.
   */
  async heldOrSettled<T>(
    subject: string,
    settled: (waited: boolean) => Promise<T | undefined> | T | undefined,
    holding: (lock: HeldLock) => Promise<T>,
  ): Promise<T> {
    const backoff = new Backoff(elapsedMs() + this.#ttlMs + 1000)
    let waited = false
    for (;;) {
      const early = await settled(waited)
      if (early !== undefined) return early
      const lock = await this.tryAcquire(subject)
      if (lock) {
        try {
          return await holding(lock)
        } finally {
          await lock.release()
        }
      }
      waited = true
      await backoff.wait()
    }
  }
}

/** For a wait that only takes the lock: nothing settles it before. */
export const NOTHING_SETTLED = (): undefined => undefined

/** Waiting for another holder: short sleeps growing to a ceiling, bounded by a deadline (elapsedMs). */
class Backoff {
  #delayMs: number
  readonly #maxMs: number
  readonly #deadline: number

  constructor(deadline: number, firstMs = 10, maxMs = 200) {
    this.#delayMs = firstMs
    this.#maxMs = maxMs
    this.#deadline = deadline
  }

  async wait(): Promise<void> {
    const remaining = this.#deadline - elapsedMs()
    if (remaining <= 0)
      throw new BffError('lock_timeout', { detail: 'waited longer than the refresh lock TTL' })
    await new Promise((resolve) => setTimeout(resolve, Math.min(this.#delayMs, remaining)))
    this.#delayMs = Math.min(this.#delayMs * 2, this.#maxMs)
  }
}
