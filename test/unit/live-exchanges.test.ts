import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'
import type { CloseReason } from '../../src/proxy/websocket-frames.js'
import { LiveExchanges } from '../../src/session/live-exchanges.js'
import type { StoredSession } from '../../src/session/types.js'
import type { SessionChangeFeed } from '../../src/store/interfaces.js'

const IDLE_MS = 60_000

function record(lastSeenAt: number, absoluteExpiresAt = lastSeenAt + 10 * IDLE_MS): StoredSession {
  return {
    iss: 'https://idp.example',
    sub: 'alice',
    claims: {},
    tokens: { accessToken: 'at', tokenType: 'Bearer', accessTokenExpiresAt: 0, obtainedAt: 0 },
    createdAt: 0,
    absoluteExpiresAt,
    version: 1,
    lastSeenAt,
  }
}

/** Sessions the test edits by hand, a feed it drives by hand, and a registry on top. */
function setup(options: { feed?: boolean } = {}) {
  let now = 1_000_000
  const stored = new Map<string, StoredSession>()
  let storeDown = false
  const reads: string[] = []
  const listeners: Array<(key: string | null) => void> = []
  const feed: SessionChangeFeed & { live: boolean } = {
    live: true,
    subscribe: (listener) => {
      listeners.push(listener)
    },
    close: async () => {},
  }
  const live = new LiveExchanges({
    sessions: {
      reload: async (key) => {
        reads.push(key)
        if (storeDown) throw new Error('store down')
        return stored.get(key) ?? null
      },
      idleExpiresAt: (r) => Math.min(r.lastSeenAt + IDLE_MS, r.absoluteExpiresAt),
    },
    feed: () => (options.feed === false ? null : feed),
    clock: { now: () => now },
    logger: createLogger('silent'),
  })
  const ended: Array<[string, CloseReason]> = []
  const open = (key: string, changesBefore = live.changes) => {
    const session = { key, record: stored.get(key) ?? record(now) }
    return live.hold(session, { end: (why) => ended.push([key, why]) }, changesBefore)
  }
  return {
    live,
    stored,
    feed,
    ended,
    reads,
    open,
    send: (key: string | null) => {
      for (const listener of listeners) listener(key)
    },
    advance: (ms: number) => {
      now += ms
    },
    now: () => now,
    setStoreDown: (down: boolean) => {
      storeDown = down
    },
  }
}

const settle = () => vi.advanceTimersByTimeAsync(0)

describe('LiveExchanges', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('ends a session’s exchanges when the feed names it and the store no longer has it', async () => {
    const s = setup()
    s.stored.set('a', record(s.now()))
    s.stored.set('b', record(s.now()))
    s.open('a')
    s.open('a')
    s.open('b')
    s.stored.delete('a')
    s.send('a')
    await settle()
    expect(s.ended).toEqual([
      ['a', 'session_ended'],
      ['a', 'session_ended'],
    ])
    expect(s.live.size).toBe(1)
  })

  it('keeps them when the named session still exists (a refresh replaced it)', async () => {
    const s = setup()
    s.stored.set('a', record(s.now()))
    s.open('a')
    s.send('a')
    await settle()
    expect(s.reads).toEqual(['a'])
    expect(s.ended).toEqual([])
  })

  it('re-reads at once a session that changed between its admission and its hold', async () => {
    const s = setup()
    s.stored.set('a', record(s.now()))
    const before = s.live.changes
    s.open('other') // subscribes the feed
    s.send('a') // the delete of 'a' arrives while 'a' is being admitted: nothing held yet
    s.stored.delete('a')
    s.open('a', before)
    await settle()
    expect(s.ended).toEqual([['a', 'session_ended']])
  })

  it('re-reads every held session when the feed says changes may have been missed', async () => {
    const s = setup()
    for (const key of ['a', 'b']) s.stored.set(key, record(s.now()))
    s.open('a')
    s.open('b')
    s.stored.delete('b')
    s.send(null)
    await settle()
    expect(s.reads.sort()).toEqual(['a', 'b'])
    expect(s.ended).toEqual([['b', 'session_ended']])
  })

  it('re-reads at the idle deadline, keeps a session another instance renewed, ends it at the new one', async () => {
    const s = setup()
    s.stored.set('a', record(s.now()))
    s.open('a')
    s.advance(IDLE_MS / 2)
    s.stored.set('a', record(s.now())) // renewed elsewhere: not on the feed
    s.advance(IDLE_MS / 2)
    await vi.advanceTimersByTimeAsync(1000)
    expect(s.reads).toEqual(['a'])
    expect(s.ended).toEqual([])
    s.advance(IDLE_MS / 2)
    await vi.advanceTimersByTimeAsync(1000)
    expect(s.ended).toEqual([['a', 'session_ended']])
  })

  it('ends at the absolute deadline even while the session is renewed', async () => {
    const s = setup()
    s.stored.set('a', record(s.now(), s.now() + IDLE_MS / 2))
    s.open('a')
    await vi.advanceTimersByTimeAsync(1000)
    expect(s.ended).toEqual([])
    s.advance(IDLE_MS / 2)
    await vi.advanceTimersByTimeAsync(1000)
    expect(s.ended).toEqual([['a', 'session_ended']])
  })

  it('ends as unverified when the store cannot answer a re-read (fail closed)', async () => {
    const s = setup()
    s.stored.set('a', record(s.now()))
    s.open('a')
    s.setStoreDown(true)
    s.send('a')
    await settle()
    expect(s.ended).toEqual([['a', 'unverified']])
  })

  it('without a feed, re-reads every held session once a sweep', async () => {
    const s = setup({ feed: false })
    s.stored.set('a', record(s.now()))
    s.open('a')
    await settle()
    await vi.advanceTimersByTimeAsync(3000)
    expect(s.reads.length).toBeGreaterThanOrEqual(4)
    s.stored.delete('a')
    await vi.advanceTimersByTimeAsync(1000)
    expect(s.ended).toEqual([['a', 'session_ended']])
  })

  it('while the feed is not live, re-reads every sweep; nothing once an exchange is let go', async () => {
    const s = setup()
    s.stored.set('a', record(s.now()))
    const release = s.open('a')
    s.feed.live = false
    await vi.advanceTimersByTimeAsync(2000)
    expect(s.reads.length).toBe(2)
    release()
    await vi.advanceTimersByTimeAsync(2000)
    expect(s.reads.length).toBe(2)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('endAll ends every exchange, with or without a session', async () => {
    const s = setup()
    s.stored.set('a', record(s.now()))
    s.open('a')
    const unowned: CloseReason[] = []
    s.live.holdUnowned({ end: (why) => unowned.push(why) })
    s.live.endAll('going_away')
    expect(s.ended).toEqual([['a', 'going_away']])
    expect(unowned).toEqual(['going_away'])
    expect(s.live.size).toBe(0)
  })
})
