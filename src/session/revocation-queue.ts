import { AsyncResource } from 'node:async_hooks'
import type { Logger } from 'pino'
import type { Clock } from '../lib/clock.js'
import type { OidcClient } from '../oidc/client.js'
import {
  type RevocationOutcome,
  revocableTokens,
  revokeToken,
  sessionOutcome,
  type TokenHint,
  type TokenRevocation,
} from './revocation.js'
import type { TokenSet } from './types.js'

export type RevocationJobOutcome = RevocationOutcome | 'dropped'

export interface RevocationMetrics {
  revocation(outcome: RevocationJobOutcome, count?: number): void
  /** Token revocations waiting or in flight. */
  revocationBacklog(size: number): void
}

export interface RevocationQueueOptions {
  oidc: Pick<OidcClient, 'revoke'>
  logger: Logger
  clock: Clock
  metrics?: RevocationMetrics
  /** Revocation requests in flight at the provider, at most. */
  concurrency: number
  /** Token revocations waiting, at most; past it, new ones are dropped. */
  maxBacklog: number
}

interface Job {
  token: string
  hint: TokenHint
  event: string
  /** Only for the current session's tokens, whose request waits for the result. */
  settle?: (result: TokenRevocation) => void
  /**
   * The async context of whoever queued it: a job runs there (its provider call joins that
   * request's trace), not in the context of the job whose end happened to start it.
   */
  origin: AsyncResource
}

/** A repeated warning is logged once per this interval, with how many were held back. */
const WARNING_INTERVAL_MS = 60_000
/** Drop the consumed head of the waiting list once it is this long (and half of the list). */
const COMPACT_AFTER = 1024

/**
 * RFC 7009 revocations with bounded concurrency, off the request path (design.md trap 9).
 * Ending thousands of sessions at once (sign out everywhere, a back-channel logout by `sub`)
 * used to fire every revocation at once: 10,000 requests stalled the event loop for seconds
 * and timed out at the provider. Here at most `concurrency` requests are in flight, those
 * waiting are bounded by `maxBacklog` (past it they are dropped: counted, and one warning a
 * minute), and nobody waits for them, except the request whose own session is being signed
 * out: its tokens go ahead of everything waiting (`revokeFirst`), because its answer depends
 * on whether the provider could be reached.
 */
export class RevocationQueue {
  readonly #options: RevocationQueueOptions
  readonly #urgent: Job[] = []
  #waiting: Array<Job | undefined> = []
  #head = 0
  #running = 0
  #closed = false
  #idle: Array<() => void> = []
  /** Outcomes of queued (not urgent) jobs since the queue was last idle, for one summary line. */
  #summary: Partial<Record<RevocationJobOutcome, number>> = {}
  readonly #warned = new Map<string, { at: number; held: number }>()

  constructor(options: RevocationQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new Error('RevocationQueue needs a concurrency of at least 1')
    }
    this.#options = options
  }

  /** Revocations waiting or in flight. */
  get size(): number {
    return this.#urgent.length + this.#waitingCount() + this.#running
  }

  /**
   * Revokes the tokens of the session this request signs out, ahead of everything waiting, and
   * resolves with the session's outcome (its worst token's). Failures are logged, never thrown.
   */
  async revokeFirst(tokens: TokenSet, event: string): Promise<RevocationOutcome> {
    const jobs = revocableTokens(tokens)
    const origin = new AsyncResource('bff.revocation')
    const pending = jobs.map(
      ({ token, hint }) =>
        new Promise<TokenRevocation>((settle) => {
          this.#urgent.push({ token, hint, event, settle, origin })
        }),
    )
    this.#pump()
    return this.#logSession(event, jobs, await Promise.all(pending))
  }

  /**
   * Queues the tokens of sessions nobody waits for, behind what already waits. Past the
   * backlog bound (or once closed) the rest are dropped, counted and warned about.
   */
  enqueue(sessions: readonly TokenSet[], event: string): void {
    let dropped = 0
    const origin = new AsyncResource('bff.revocation')
    for (const tokens of sessions) {
      for (const { token, hint } of revocableTokens(tokens)) {
        if (this.#closed || this.#waitingCount() >= this.#options.maxBacklog) dropped++
        else this.#waiting.push({ token, hint, event, origin })
      }
    }
    if (dropped > 0) this.#drop(dropped, event, this.#closed ? 'closed' : 'backlog full')
    this.#pump()
  }

  /**
   * Stops taking new work and lets what waits run for up to `ms`; then drops what still waits
   * (counted, one warning). Requests in flight at that moment finish on their own.
   */
  async close(ms: number): Promise<void> {
    this.#closed = true
    if (this.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, ms)
        }),
      ])
      clearTimeout(timer)
    }
    for (const job of this.#urgent.splice(0)) {
      job.settle?.({ outcome: 'failed', code: 'shutdown', detail: 'broker shutting down' })
    }
    const left = this.#waitingCount()
    this.#waiting = []
    this.#head = 0
    if (left > 0) this.#drop(left, 'revocation', 'shutdown')
    this.#report()
  }

  #waitingCount(): number {
    return this.#waiting.length - this.#head
  }

  #next(): Job | undefined {
    const urgent = this.#urgent.shift()
    if (urgent) return urgent
    if (this.#head >= this.#waiting.length) return undefined
    const job = this.#waiting[this.#head]
    this.#waiting[this.#head++] = undefined
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head)
      this.#head = 0
    }
    return job
  }

  #pump(): void {
    while (this.#running < this.#options.concurrency) {
      const job = this.#next()
      if (!job) break
      this.#running++
      void job.origin.runInAsyncScope(() => this.#run(job))
    }
    this.#report()
    if (this.size === 0) this.#becameIdle()
  }

  async #run(job: Job): Promise<void> {
    let result: TokenRevocation = { outcome: 'failed', code: 'internal' }
    try {
      result = await revokeToken(this.#options.oidc, job.token, job.hint)
    } finally {
      this.#running--
      this.#options.metrics?.revocation(result.outcome)
      if (job.settle) job.settle(result)
      else this.#queuedDone(job, result)
      this.#pump()
    }
  }

  #queuedDone(job: Job, result: TokenRevocation): void {
    this.#summary[result.outcome] = (this.#summary[result.outcome] ?? 0) + 1
    if (result.outcome === 'revoked' || result.outcome === 'not_supported') return
    this.#warn(
      `${job.event}.revocation_failed`,
      { hint: job.hint, code: result.code, detail: result.detail },
      'token not revoked',
    )
  }

  #drop(count: number, event: string, reason: string): void {
    this.#options.metrics?.revocation('dropped', count)
    this.#summary.dropped = (this.#summary.dropped ?? 0) + count
    this.#warn(
      'revocation.dropped',
      { source: event, reason, count, backlog: this.#waitingCount() },
      'token revocations dropped: they stay valid at the provider until they expire',
    )
  }

  #becameIdle(): void {
    for (const resolve of this.#idle.splice(0)) resolve()
    const counts = this.#summary
    if (Object.keys(counts).length === 0) return
    this.#summary = {}
    this.#options.logger.info(
      { event: 'revocation.queue_drained', ...counts },
      'queued token revocations done',
    )
  }

  /** At most one line per event name and interval; the next one says how many were held back. */
  #warn(event: string, fields: Record<string, unknown>, message: string): void {
    const now = this.#options.clock.now()
    const last = this.#warned.get(event)
    if (last && now - last.at < WARNING_INTERVAL_MS) {
      last.held++
      return
    }
    this.#warned.set(event, { at: now, held: 0 })
    this.#options.logger.warn({ event, ...fields, heldBack: last?.held ?? 0 }, message)
  }

  #logSession(
    event: string,
    jobs: ReadonlyArray<{ hint: TokenHint }>,
    results: readonly TokenRevocation[],
  ): RevocationOutcome {
    results.forEach((result, i) => {
      if (result.outcome === 'revoked' || result.outcome === 'not_supported') return
      this.#options.logger.warn(
        {
          event: `${event}.revocation_failed`,
          hint: jobs[i]?.hint,
          code: result.code,
          detail: result.detail,
        },
        'token not revoked',
      )
    })
    const outcome = sessionOutcome(results)
    if (outcome === 'revoked' && jobs.length > 0) {
      this.#options.logger.info({ event: `${event}.revoked`, count: jobs.length }, 'tokens revoked')
    }
    return outcome
  }

  #report(): void {
    this.#options.metrics?.revocationBacklog(this.size)
  }
}
