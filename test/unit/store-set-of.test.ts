import { describe, expect, it } from 'vitest'
import { MemoryRateLimitStore } from '../../src/rate-limit/store.js'
import { MemorySessionStore } from '../../src/store/memory-session-store.js'
import { type SessionStore, StoreSetView, storeSetOf } from '../../src/store/session-store.js'

const clock = { now: () => 1_000_000 }

describe('a SessionStore passed as deps.store', () => {
  it('gives the set it is a view of (MemorySessionStore, RedisSessionStore)', () => {
    const store = new MemorySessionStore(clock)
    expect(storeSetOf(store, clock)).toBe(store.stores)
  })

  it('of its own answers for every store, with rate-limit counters in the process', async () => {
    const inner = new MemorySessionStore(clock)
    // A store written against the single interface: every method its own, no set behind it.
    const own: SessionStore = new Proxy(inner as SessionStore, {
      get(target, property) {
        if (property === 'stores' || property === 'changes' || property === 'configurationWarnings')
          return undefined
        const value = Reflect.get(target, property)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const stores = storeSetOf(own, clock)
    expect(stores.kind).toBe('memory')
    for (const member of [
      stores.sessions,
      stores.indexes,
      stores.transactions,
      stores.replayCache,
      stores.locks,
      stores.sharedTokens,
    ]) {
      expect(member).toBe(own)
    }
    expect(stores.rateLimits).toBeInstanceOf(MemoryRateLimitStore)
    expect(stores.changes()).toBeNull()
    expect(await stores.configurationWarnings()).toEqual([])
    await stores.ping()
  })

  it('is seen whole again through StoreSetView', async () => {
    const view = new StoreSetView(new MemorySessionStore(clock).stores)
    expect(await view.createSession('k', sessionRecord(), 1, 60_000)).toBe(true)
    expect(await view.stores.sessions.getSession('k')).toMatchObject({ sub: 'alice', version: 1 })
  })
})

function sessionRecord() {
  return {
    iss: 'https://idp.example',
    sub: 'alice',
    claims: {},
    tokens: { accessToken: 'a', tokenType: 'Bearer', accessTokenExpiresAt: 2e12, obtainedAt: 0 },
    createdAt: 0,
    absoluteExpiresAt: 2e12,
  }
}
