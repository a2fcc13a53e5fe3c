import { describe, expect, it } from 'vitest'
import { SessionCache } from '../../src/session/session-cache.js'
import type { StoredSession } from '../../src/session/types.js'
import type { SessionChangeFeed } from '../../src/store/interfaces.js'

/** A change feed the test drives by hand (the Redis one is covered by the integration tests). */
function manualFeed() {
  const listeners: Array<(key: string | null) => void> = []
  const feed: SessionChangeFeed & { live: boolean; send(key: string | null): void } = {
    live: true,
    subscribe: (listener) => {
      listeners.push(listener)
    },
    close: async () => {},
    send: (key) => {
      for (const listener of listeners) listener(key)
    },
  }
  return feed
}

function record(version: number): StoredSession {
  return {
    iss: 'https://idp.example',
    sub: 'alice',
    claims: {},
    tokens: {
      accessToken: `at-${version}`,
      tokenType: 'Bearer',
      accessTokenExpiresAt: 0,
      obtainedAt: 0,
    },
    createdAt: 0,
    absoluteExpiresAt: 0,
    version,
    lastSeenAt: 0,
  }
}

function setup(options: { maxEntries?: number; maxAgeMs?: number } = {}) {
  let now = 1_000_000
  const feed = manualFeed()
  const cache = new SessionCache(
    feed,
    { now: () => now },
    options.maxEntries ?? 100,
    options.maxAgeMs ?? 30_000,
  )
  const fill = (key: string, value: StoredSession) => cache.remember(cache.startRead(key), value)
  return { cache, feed, fill, advance: (ms: number) => (now += ms) }
}

describe('SessionCache', () => {
  it('serves what a read remembered while the feed is live', () => {
    const { cache, fill } = setup()
    expect(cache.get('k')).toBe('miss')
    fill('k', record(1))
    expect(cache.get('k')).toMatchObject({ version: 1 })
  })

  it('a change of the key drops it', () => {
    const { cache, feed, fill } = setup()
    fill('k', record(1))
    fill('other', record(1))
    feed.send('k')
    expect(cache.get('k')).toBe('miss')
    expect(cache.get('other')).toMatchObject({ version: 1 })
  })

  it('a reset (null) drops everything', () => {
    const { cache, feed, fill } = setup()
    fill('a', record(1))
    fill('b', record(1))
    feed.send(null)
    expect(cache.get('a')).toBe('miss')
    expect(cache.get('b')).toBe('miss')
  })

  it('does not remember a read during which its key changed (the read may predate a delete)', () => {
    const { cache, feed } = setup()
    const ticket = cache.startRead('k')
    feed.send('k')
    cache.remember(ticket, record(1))
    expect(cache.get('k')).toBe('miss')
  })

  it('does not remember a read that spanned a reset', () => {
    const { cache, feed } = setup()
    const ticket = cache.startRead('k')
    feed.send(null)
    cache.remember(ticket, record(1))
    expect(cache.get('k')).toBe('miss')
  })

  it('a change during one of two concurrent reads voids both; a read started afterwards is remembered', () => {
    const { cache, feed } = setup()
    const first = cache.startRead('k')
    const second = cache.startRead('k')
    feed.send('k')
    cache.remember(first, record(1))
    cache.remember(second, record(1))
    expect(cache.get('k')).toBe('miss')
    cache.remember(cache.startRead('k'), record(2))
    expect(cache.get('k')).toMatchObject({ version: 2 })
  })

  it('a change of another key does not void a read', () => {
    const { cache, feed } = setup()
    const ticket = cache.startRead('k')
    feed.send('other')
    cache.remember(ticket, record(1))
    expect(cache.get('k')).toMatchObject({ version: 1 })
  })

  it('is off while the feed is not live, and forgets everything when it goes down', () => {
    const { cache, feed, fill } = setup()
    fill('k', record(1))
    feed.live = false
    expect(cache.get('k')).toBe('off')
    fill('k', record(2))
    feed.live = true
    // Whatever it held before the feed went down may have missed changes.
    expect(cache.get('k')).toBe('miss')
  })

  it('does not remember a read that spanned the feed going down and coming back', () => {
    const { cache, feed } = setup()
    const ticket = cache.startRead('k')
    feed.live = false
    expect(cache.get('x')).toBe('off')
    feed.live = true
    cache.remember(ticket, record(1))
    expect(cache.get('k')).toBe('miss')
  })

  it('entries expire after their maximum age', () => {
    const { cache, fill, advance } = setup({ maxAgeMs: 1000 })
    fill('k', record(1))
    advance(999)
    expect(cache.get('k')).toMatchObject({ version: 1 })
    advance(1)
    expect(cache.get('k')).toBe('miss')
  })

  it('holds at most maxEntries, dropping the oldest', () => {
    const { cache, fill } = setup({ maxEntries: 2 })
    fill('a', record(1))
    fill('b', record(1))
    fill('c', record(1))
    expect(cache.size).toBe(2)
    expect(cache.get('a')).toBe('miss')
    expect(cache.get('c')).toMatchObject({ version: 1 })
  })

  it('ends tickets that are not remembered without leaking read state', () => {
    const { cache, feed } = setup()
    cache.done(cache.startRead('k'))
    // A later change of k must not void a read that starts after it.
    feed.send('k')
    cache.remember(cache.startRead('k'), record(3))
    expect(cache.get('k')).toMatchObject({ version: 3 })
  })
})
