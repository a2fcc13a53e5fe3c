import { AsyncResource } from 'node:async_hooks'
import type { Logger } from 'pino'
import type { Clock } from '../lib/clock.js'
import { BurstLog } from '../observability/burst-log.js'
import { CLOSE_CODES, type CloseReason } from '../proxy/websocket-frames.js'
import type { SessionChangeFeed } from '../store/interfaces.js'
import type { SessionService } from './session-service.js'
import type { ActiveSession, StoredSession } from './types.js'

/** Something long-lived a session holds open: a proxied WebSocket, a streamed answer. */
export interface LiveExchange {
  /** Ends it now: its session ended, could not be re-checked, or the broker is stopping. */
  end(why: CloseReason): void
}

/** How often deadlines are compared with the clock (and, without a live feed, sessions re-read). */
const SWEEP_MS = 1000
/** Store reads of re-checks in flight at most; more wait their turn (a mass logout). */
const MAX_CHECKS_IN_FLIGHT = 64
/** One log line per this long about sessions whose exchanges were ended, with counts. */
const LOG_INTERVAL_MS = 10_000

interface Held {
  exchanges: Set<LiveExchange>
  /** When the session expires as last read (idle or absolute); re-checked then. */
  deadline: number
}

export interface LiveExchangesOptions {
  sessions: Pick<SessionService, 'reload' | 'idleExpiresAt'>
  /**
   * The store's change feed (every instance's replaces and deletes), or null when it has none;
   * asked for when the first exchange is held (a Redis feed opens a connection of its own).
   */
  feed: () => SessionChangeFeed | null
  clock: Clock
  logger: Logger
}

/**
 * The WebSockets and streamed answers open on this instance, by session, and what ends them
 * when their session ends, wherever it ends:
 * - a change of the session on the feed (a delete on any instance: logout, sign out
 *   everywhere, back-channel logout, the operator CLI; a replace is a refresh) → the session
 *   is re-read from the store, and its exchanges end if it is gone or expired;
 * - the feed said changes may have been missed (null), or it is not live (or there is none,
 *   Redis Cluster) → every held session is re-read, once a sweep while it stays down;
 * - its idle or absolute deadline passed (Redis lets the key expire; nobody announces it) →
 *   re-read at the next sweep: another instance may have renewed it (a renewal is not on the
 *   feed), the absolute deadline never moves. Traffic on a socket is not activity: only
 *   requests renew a session.
 * A re-read the store does not answer ends the session's exchanges as `unverified` (fail
 * closed: they cannot be shown to be alive). Exchanges are held only after their admission,
 * so a change between the two is caught by `changes`: `hold` re-reads when it moved.
 */
export class LiveExchanges {
  readonly #held = new Map<string, Held>()
  readonly #unowned = new Set<LiveExchange>()
  readonly #options: LiveExchangesOptions
  readonly #queue = new Set<string>()
  readonly #running = new Map<string, { again: boolean }>()
  #inFlight = 0
  #changes = 0
  #feed: SessionChangeFeed | null | undefined
  #feedWasLive = false
  #sweep: NodeJS.Timeout | undefined
  #lastStoreError = ''
  readonly #log: BurstLog<CloseReason>
  /**
   * The async context the broker was built in. The feed's listener and the sweep start inside
   * the first request that holds an exchange and outlive it: started here, their store reads
   * are nobody's request (they would otherwise join that request's trace, forever).
   */
  readonly #background = new AsyncResource('bff.live-exchanges')

  constructor(options: LiveExchangesOptions) {
    this.#options = options
    this.#log = new BurstLog({
      reasons: Object.keys(CLOSE_CODES) as CloseReason[],
      intervalMs: LOG_INTERVAL_MS,
      write: (sessions) => {
        const detail = sessions.unverified > 0 ? { detail: this.#lastStoreError } : {}
        options.logger.info(
          { event: 'live.ended', sessions, ...detail },
          'sockets and streams closed (sessions counted by why since the last such line)',
        )
      },
    })
  }

  #subscribe(): SessionChangeFeed | null {
    const feed = this.#options.feed()
    feed?.subscribe((key) => {
      this.#changes++
      if (key === null) this.#checkAll()
      else if (this.#held.has(key)) this.#check(key)
    })
    return feed
  }

  /**
   * How many changes the feed has announced: read it before admitting a request and pass it
   * to `hold`, which re-reads the session if any change came in between.
   */
  get changes(): number {
    return this.#changes
  }

  /** Exchanges held, for tests and metrics. */
  get size(): number {
    let count = this.#unowned.size
    for (const held of this.#held.values()) count += held.exchanges.size
    return count
  }

  /** Holds an exchange of this session until the returned function lets it go. */
  hold(session: ActiveSession, exchange: LiveExchange, changesBefore: number): () => void {
    if (this.#feed === undefined) {
      this.#feed = this.#background.runInAsyncScope(() => this.#subscribe())
    }
    const deadline = this.#options.sessions.idleExpiresAt(session.record)
    let held = this.#held.get(session.key)
    if (!held) {
      held = { exchanges: new Set(), deadline }
      this.#held.set(session.key, held)
    } else {
      held.deadline = Math.max(held.deadline, deadline)
    }
    held.exchanges.add(exchange)
    if (!this.#sweep) {
      // From now on a feed that goes down (or comes back) is noticed by the sweep.
      this.#feedWasLive = this.#feedLive()
      this.#sweep = this.#background
        .runInAsyncScope(() => setInterval(() => this.#sweepOnce(), SWEEP_MS))
        .unref()
    }
    if (changesBefore !== this.#changes || !this.#feedLive()) this.#check(session.key)
    const { key } = session
    return () => this.#release(key, exchange)
  }

  /** Holds an exchange of no session (a route with token `none`): only `endAll` ends it. */
  holdUnowned(exchange: LiveExchange): () => void {
    this.#unowned.add(exchange)
    return () => this.#unowned.delete(exchange)
  }

  /** Ends every exchange (the broker is stopping). */
  endAll(why: CloseReason): void {
    for (const key of [...this.#held.keys()]) this.#end(key, why)
    for (const exchange of this.#unowned) exchange.end(why)
    this.#unowned.clear()
  }

  close(): void {
    this.endAll('going_away')
    clearInterval(this.#sweep)
    this.#sweep = undefined
    this.#log.flush()
  }

  #release(key: string, exchange: LiveExchange): void {
    const held = this.#held.get(key)
    if (!held?.exchanges.delete(exchange) || held.exchanges.size > 0) return
    this.#held.delete(key)
    if (this.#held.size === 0) {
      clearInterval(this.#sweep)
      this.#sweep = undefined
    }
  }

  #feedLive(): boolean {
    return this.#feed?.live ?? false
  }

  #sweepOnce(): void {
    const live = this.#feedLive()
    const wasLive = this.#feedWasLive
    this.#feedWasLive = live
    // Down, or just back: changes may have been missed meanwhile.
    if (!live || !wasLive) {
      this.#checkAll()
      return
    }
    const now = this.#options.clock.now()
    for (const [key, held] of this.#held) if (now >= held.deadline) this.#check(key)
  }

  #checkAll(): void {
    for (const key of this.#held.keys()) this.#check(key)
  }

  /** Re-reads the session soon (at most MAX_CHECKS_IN_FLIGHT at once), once more if asked again meanwhile. */
  #check(key: string): void {
    const running = this.#running.get(key)
    if (running) {
      running.again = true
      return
    }
    if (this.#inFlight >= MAX_CHECKS_IN_FLIGHT) {
      this.#queue.add(key)
      return
    }
    this.#queue.delete(key)
    const state = { again: false }
    this.#running.set(key, state)
    this.#inFlight++
    void this.#recheck(key).finally(() => {
      this.#running.delete(key)
      this.#inFlight--
      if (state.again && this.#held.has(key)) this.#check(key)
      const next = this.#queue.values().next()
      if (!next.done) this.#check(next.value)
    })
  }

  async #recheck(key: string): Promise<void> {
    if (!this.#held.has(key)) return
    let record: StoredSession | null
    try {
      record = await this.#options.sessions.reload(key)
    } catch (error) {
      this.#lastStoreError = String(error)
      return this.#end(key, 'unverified')
    }
    const held = this.#held.get(key)
    if (!held) return
    const deadline = record ? this.#options.sessions.idleExpiresAt(record) : 0
    if (this.#options.clock.now() >= deadline) return this.#end(key, 'session_ended')
    held.deadline = deadline
  }

  #end(key: string, why: CloseReason): void {
    const held = this.#held.get(key)
    if (!held) return
    this.#held.delete(key)
    if (this.#held.size === 0) {
      clearInterval(this.#sweep)
      this.#sweep = undefined
    }
    for (const exchange of held.exchanges) {
      try {
        exchange.end(why)
      } catch (error) {
        this.#options.logger.error({ event: 'live.end_failed', err: error }, 'ending failed')
      }
    }
    this.#log.note(why)
  }
}
