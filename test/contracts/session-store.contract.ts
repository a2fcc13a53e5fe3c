import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SessionStore } from '../../src/session/store.js'
import type { LoginTransaction, SessionData } from '../../src/session/types.js'

export interface StoreUnderTest {
  store: SessionStore
  /** Moves the store's notion of time forward (memory) or waits real time (Redis). */
  advance(ms: number): Promise<void>
  cleanup(): Promise<void>
}

function sessionData(overrides: Partial<SessionData> = {}): SessionData {
  return {
    iss: 'https://idp.example',
    sub: 'alice',
    sid: 'sid-1',
    claims: { name: 'Alice' },
    tokens: {
      accessToken: 'at-1',
      tokenType: 'Bearer',
      accessTokenExpiresAt: 2e12,
      obtainedAt: 1e12,
      refreshToken: 'rt-1',
    },
    createdAt: 1e12,
    absoluteExpiresAt: 2e12,
    ...overrides,
  }
}

const tx: LoginTransaction = {
  codeVerifier: 'v',
  nonce: 'n',
  returnTo: '/x',
  bindingHash: 'h',
  createdAt: 1,
}

/** One contract, run against every store implementation. */
export function sessionStoreContract(name: string, make: () => Promise<StoreUnderTest>) {
  describe(`SessionStore contract: ${name}`, () => {
    let t: StoreUnderTest
    beforeEach(async () => {
      t = await make()
    })
    afterEach(async () => {
      await t.cleanup()
    })

    it('creates a session at version 1 and reads it back', async () => {
      expect(await t.store.createSession('k1', sessionData(), 123, 60_000)).toBe(true)
      const read = await t.store.getSession('k1')
      expect(read).toMatchObject({ ...sessionData(), version: 1, lastSeenAt: 123 })
    })

    it('refuses to create over an existing session', async () => {
      await t.store.createSession('k1', sessionData(), 1, 60_000)
      expect(await t.store.createSession('k1', sessionData({ sub: 'mallory' }), 1, 60_000)).toBe(
        false,
      )
      expect((await t.store.getSession('k1'))?.sub).toBe('alice')
    })

    it('returns null for an unknown session', async () => {
      expect(await t.store.getSession('nope')).toBeNull()
    })

    it('compare-and-set writes only over the expected version', async () => {
      await t.store.createSession('k1', sessionData(), 1, 60_000)
      const next = sessionData({ tokens: { ...sessionData().tokens, accessToken: 'at-2' } })
      expect(await t.store.replaceSession('k1', next, 1, 60_000)).toBe(true)
      const stale = sessionData({ tokens: { ...sessionData().tokens, accessToken: 'at-stale' } })
      expect(await t.store.replaceSession('k1', stale, 1, 60_000)).toBe(false)
      const read = await t.store.getSession('k1')
      expect(read?.version).toBe(2)
      expect(read?.tokens.accessToken).toBe('at-2')
    })

    it('compare-and-set does not resurrect a deleted session', async () => {
      await t.store.createSession('k1', sessionData(), 1, 60_000)
      await t.store.deleteSession('k1')
      expect(await t.store.replaceSession('k1', sessionData(), 1, 60_000)).toBe(false)
      expect(await t.store.getSession('k1')).toBeNull()
    })

    it('touch updates lastSeenAt without changing the version, and never creates', async () => {
      await t.store.createSession('k1', sessionData(), 1, 60_000)
      await t.store.touchSession('k1', 999, 60_000)
      expect(await t.store.getSession('k1')).toMatchObject({ version: 1, lastSeenAt: 999 })
      await t.store.touchSession('ghost', 999, 60_000)
      expect(await t.store.getSession('ghost')).toBeNull()
    })

    it('delete returns the session once', async () => {
      await t.store.createSession('k1', sessionData(), 1, 60_000)
      expect((await t.store.deleteSession('k1'))?.sub).toBe('alice')
      expect(await t.store.deleteSession('k1')).toBeNull()
    })

    it('expires sessions after their TTL', async () => {
      await t.store.createSession('k1', sessionData(), 1, 150)
      await t.advance(400)
      expect(await t.store.getSession('k1')).toBeNull()
    })

    it('a transaction can be taken exactly once', async () => {
      await t.store.putTransaction('s1', tx, 60_000)
      const [first, second] = await Promise.all([
        t.store.takeTransaction('s1'),
        t.store.takeTransaction('s1'),
      ])
      expect([first, second].filter(Boolean)).toEqual([tx])
    })

    it('transactions expire after their TTL', async () => {
      await t.store.putTransaction('s1', tx, 150)
      await t.advance(400)
      expect(await t.store.takeTransaction('s1')).toBeNull()
    })

    it('a lock has one holder, and only the holder releases it', async () => {
      const token = await t.store.acquireLock('l1', 60_000)
      expect(token).toBeTruthy()
      expect(await t.store.acquireLock('l1', 60_000)).toBeNull()
      expect(await t.store.releaseLock('l1', 'someone-else')).toBe(false)
      expect(await t.store.acquireLock('l1', 60_000)).toBeNull()
      expect(await t.store.releaseLock('l1', token as string)).toBe(true)
      expect(await t.store.acquireLock('l1', 60_000)).toBeTruthy()
    })

    it('only the holder extends a lock, and an extended lock outlives its first TTL', async () => {
      const token = (await t.store.acquireLock('l1', 200)) as string
      expect(await t.store.extendLock('l1', 'someone-else', 60_000)).toBe(false)
      expect(await t.store.extendLock('l1', token, 60_000)).toBe(true)
      await t.advance(400)
      expect(await t.store.acquireLock('l1', 60_000)).toBeNull()
      expect(await t.store.releaseLock('l1', token)).toBe(true)
    })

    it('an expired lock cannot be extended by its old holder', async () => {
      const token = (await t.store.acquireLock('l1', 150)) as string
      await t.advance(400)
      expect(await t.store.extendLock('l1', token, 60_000)).toBe(false)
    })

    it('an expired lock can be taken by another holder, and the old holder cannot release it', async () => {
      const first = await t.store.acquireLock('l1', 150)
      await t.advance(400)
      const second = await t.store.acquireLock('l1', 60_000)
      expect(second).toBeTruthy()
      expect(await t.store.releaseLock('l1', first as string)).toBe(false)
      expect(await t.store.acquireLock('l1', 60_000)).toBeNull()
    })
  })
}
