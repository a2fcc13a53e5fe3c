import type { Redis } from 'ioredis'
import { elapsedMs } from '../lib/clock.js'
import type { SessionChangeFeed } from './interfaces.js'

/** How often the subscriber connection is PINGed, and how late an answer may be. */
const HEARTBEAT_MS = 250
const HEARTBEAT_DEADLINE_MS = 1000

/**
 * Session changes over Redis pub/sub: every instance publishes the key of a session it
 * replaces or deletes (in the same MULTI as a delete), and every instance listens on its own
 * connection. Redis delivers a subscriber's messages and command replies in order, so a PONG
 * proves every message published before that PING has arrived; the feed is live only while
 * the connection is up and the last PONG is recent. Any disconnect tells listeners to forget
 * everything (messages sent meanwhile are lost), and a stalled Redis (CLIENT PAUSE, a
 * network partition that drops nothing) turns the feed off within the heartbeat deadline.
 */
export class RedisSessionChanges implements SessionChangeFeed {
  readonly #subscriber: Redis
  readonly #channel: string
  readonly #listeners: Array<(key: string | null) => void> = []
  readonly #heartbeat: NodeJS.Timeout
  #subscribed = false
  #lastPongAt = Number.NEGATIVE_INFINITY
  #pingInFlight = false

  constructor(client: Redis, channel: string) {
    this.#channel = channel
    // Its own connection: a subscribed connection can run no other commands. The offline
    // queue lets ioredis replay SUBSCRIBE on every reconnect; PINGs are only sent when ready.
    this.#subscriber = client.duplicate({
      enableOfflineQueue: true,
      enableAutoPipelining: false,
      autoResubscribe: true,
    })
    this.#subscriber.on('error', () => {})
    this.#subscriber.on('message', (channel: string, key: string) => {
      if (channel === this.#channel) this.#emit(key)
    })
    this.#subscriber.on('close', () => {
      this.#lastPongAt = Number.NEGATIVE_INFINITY
      this.#emit(null)
    })
    this.#subscriber.subscribe(channel).then(
      () => {
        this.#subscribed = true
      },
      () => {},
    )
    this.#heartbeat = setInterval(() => this.#ping(), HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  get live(): boolean {
    return (
      this.#subscribed &&
      this.#subscriber.status === 'ready' &&
      elapsedMs() - this.#lastPongAt < HEARTBEAT_DEADLINE_MS
    )
  }

  subscribe(listener: (key: string | null) => void): void {
    this.#listeners.push(listener)
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat)
    await this.#subscriber.quit().catch(() => this.#subscriber.disconnect())
  }

  #ping(): void {
    if (this.#pingInFlight || !this.#subscribed || this.#subscriber.status !== 'ready') return
    this.#pingInFlight = true
    const sentAt = elapsedMs()
    this.#subscriber.ping().then(
      () => {
        this.#pingInFlight = false
        this.#lastPongAt = sentAt
      },
      () => {
        this.#pingInFlight = false
      },
    )
  }

  #emit(key: string | null): void {
    for (const listener of this.#listeners) listener(key)
  }
}
