import type { Cluster, Redis } from 'ioredis'
import { elapsedMs } from '../lib/clock.js'
import { randomId } from '../lib/random.js'
import type { SessionChangeFeed } from './interfaces.js'

/** How often a heartbeat is published through each master, and how late it may arrive. */
const HEARTBEAT_MS = 250
const HEARTBEAT_DEADLINE_MS = 1000
/** A subscriber connection not ready this long after it dropped moves to another node. */
const MOVE_AFTER_MS = 1500
/** Session keys are base64url hashes: a message starting with this is a heartbeat. */
const HEARTBEAT_PREFIX = '\u0000hb:'

/**
 * Session changes on a Redis Cluster. Every instance publishes the key of a session it
 * replaces or deletes with classic PUBLISH (inside the same MULTI as a delete, on the key's
 * master: a keyless PUBLISH may share a transaction with the key's commands, which a sharded
 * SPUBLISH to a global channel may not), and the cluster bus carries every message to every
 * node. Each instance listens on one connection of its own to one node.
 *
 * A PONG from that node proves nothing about messages another master published: they cross
 * the cluster bus first. So liveness is proven per master: every 250 ms this instance
 * publishes a heartbeat through each master, and the feed is live only while the subscriber
 * is up and the latest heartbeat of every master arrived within the deadline. Messages from
 * one node reach another in order, so a heartbeat from master M sent at t that has arrived
 * proves every change M published before t has arrived too.
 */
export class RedisClusterSessionChanges implements SessionChangeFeed {
  readonly #cluster: Cluster
  readonly #channel: string
  readonly #instance = randomId(6)
  readonly #listeners: Array<(key: string | null) => void> = []
  readonly #heartbeat: NodeJS.Timeout
  /** Per master (host:port): when each heartbeat still unanswered was sent, by sequence. */
  readonly #sent = new Map<string, Map<number, number>>()
  /** Per master: when its latest heartbeat that arrived had been sent. */
  readonly #arrived = new Map<string, number>()
  #subscriber: Redis | undefined
  #subscribed = false
  #sequence = 0
  #droppedAt = Number.NEGATIVE_INFINITY
  #closed = false

  constructor(cluster: Cluster, channel: string) {
    this.#cluster = cluster
    this.#channel = channel
    this.#heartbeat = setInterval(() => this.#tick(), HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  get live(): boolean {
    if (!this.#subscribed || this.#subscriber?.status !== 'ready') return false
    const masters = this.#cluster.nodes('master')
    if (masters.length === 0) return false
    const now = elapsedMs()
    return masters.every(
      (node) =>
        now - (this.#arrived.get(nameOf(node)) ?? Number.NEGATIVE_INFINITY) < HEARTBEAT_DEADLINE_MS,
    )
  }

  subscribe(listener: (key: string | null) => void): void {
    this.#listeners.push(listener)
  }

  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#heartbeat)
    await this.#subscriber?.quit().catch(() => this.#subscriber?.disconnect())
  }

  #tick(): void {
    if (this.#closed) return
    this.#ensureSubscriber()
    if (!this.#subscribed) return
    const sequence = ++this.#sequence
    for (const node of this.#cluster.nodes('master')) {
      const name = nameOf(node)
      const pending = this.#sent.get(name) ?? new Map<number, number>()
      this.#sent.set(name, pending)
      pending.set(sequence, elapsedMs())
      // Heartbeats older than the deadline can no longer make the feed live: forget them.
      for (const [old, at] of pending)
        if (elapsedMs() - at > HEARTBEAT_DEADLINE_MS) pending.delete(old)
      node
        .publish(this.#channel, `${HEARTBEAT_PREFIX}${this.#instance}:${name}:${sequence}`)
        .catch(() => {})
    }
  }

  /** A subscriber connection to some node; another one when this one stays down. */
  #ensureSubscriber(): void {
    const current = this.#subscriber
    if (current && current.status !== 'end') {
      if (current.status === 'ready' || elapsedMs() - this.#droppedAt < MOVE_AFTER_MS) return
    }
    const nodes = this.#cluster.nodes('master')
    if (nodes.length === 0) return
    if (current) {
      // Whatever was published while it was down is lost: caches forget everything.
      current.disconnect()
      this.#arrived.clear()
      this.#emit(null)
    }
    const node = nodes[Math.floor(Math.random() * nodes.length)] as Redis
    const subscriber = node.duplicate({
      enableOfflineQueue: true,
      enableAutoPipelining: false,
      autoResubscribe: true,
      readOnly: false,
    })
    this.#subscriber = subscriber
    this.#subscribed = false
    this.#droppedAt = elapsedMs()
    subscriber.on('error', () => {})
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#channel && subscriber === this.#subscriber) this.#receive(message)
    })
    subscriber.on('close', () => {
      if (subscriber !== this.#subscriber) return
      this.#droppedAt = elapsedMs()
      this.#arrived.clear()
      this.#emit(null)
    })
    subscriber.subscribe(this.#channel).then(
      () => {
        if (subscriber === this.#subscriber) this.#subscribed = true
      },
      () => {},
    )
  }

  #receive(message: string): void {
    if (!message.startsWith(HEARTBEAT_PREFIX)) {
      this.#emit(message)
      return
    }
    // <instance>:<host:port>:<sequence>; the node's name has colons of its own.
    const fields = message.slice(HEARTBEAT_PREFIX.length).split(':')
    if (fields[0] !== this.#instance) return
    const node = fields.slice(1, -1).join(':')
    const sequence = Number(fields.at(-1))
    const pending = this.#sent.get(node)
    const sentAt = pending?.get(sequence)
    if (sentAt === undefined) return
    pending?.delete(sequence)
    if (sentAt > (this.#arrived.get(node) ?? Number.NEGATIVE_INFINITY))
      this.#arrived.set(node, sentAt)
  }

  #emit(key: string | null): void {
    for (const listener of this.#listeners) listener(key)
  }
}

function nameOf(node: Redis): string {
  return `${node.options.host}:${node.options.port}`
}
