import { storeCall } from '../errors/store-call.js'
import type { SessionIndexQuery, SessionIndexStore, SessionOwner } from '../store/interfaces.js'

/**
 * Indexes are written a moment before their session, so they get this much extra time: a
 * session must never outlive the index a back-channel logout finds it by.
 */
const INDEX_SLACK_MS = 5000

/** The back-channel logout indexes of sessions: written with each session write, read by logout. */
export class SessionIndexer {
  readonly #indexes: SessionIndexStore

  constructor(indexes: SessionIndexStore) {
    this.#indexes = indexes
  }

  /** Indexes `key` under its owner for as long as a session kept `ttlMs`, and a little more. */
  async index(key: string, owner: SessionOwner, ttlMs: number): Promise<void> {
    const { iss, sub, sid } = owner
    await storeCall('index session', () =>
      this.#indexes.indexSession(
        key,
        { iss, sub, ...(sid ? { sid } : {}) },
        ttlMs + INDEX_SLACK_MS,
      ),
    )
  }

  /** Keys of the live sessions in one back-channel logout index. */
  async find(query: SessionIndexQuery): Promise<string[]> {
    return storeCall('find sessions', () => this.#indexes.findSessions(query))
  }
}
