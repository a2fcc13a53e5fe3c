import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DELETE_BATCH_SIZE, type SessionOwner, type SessionStore } from '../../src/session/store.js'
import type { LoginTransaction, SessionData } from '../../src/session/types.js'
import { until } from '../support/until.js'

export interface StoreUnderTest {
  store: SessionStore
  /** Moves the store's notion of time forward (memory) or waits real time (Redis). */
  advance(ms: number): Promise<void>
  /** Every key the store still holds for this test, expired ones excluded. */
  residentKeys(): Promise<string[]>
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

    describe('session indexes', () => {
      const owner = { iss: 'https://idp.example', sub: 'alice', sid: 'sid-1' }

      async function createIndexed(key: string, who: SessionOwner = owner, ttlMs = 60_000) {
        await t.store.createSession(key, sessionData(who), 1, ttlMs)
        await t.store.indexSession(key, who, ttlMs)
      }

      it('finds a session by its (iss, sid) and by its (iss, sub)', async () => {
        await createIndexed('k1')
        expect(await t.store.findSessions({ iss: owner.iss, sid: 'sid-1' })).toEqual(['k1'])
        expect(await t.store.findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
      })

      it.each([
        ['another issuer with the same sid', { iss: 'https://other.example', sid: 'sid-1' }],
        ['another issuer with the same sub', { iss: 'https://other.example', sub: 'alice' }],
        ['another sid', { iss: 'https://idp.example', sid: 'sid-2' }],
        ['another sub', { iss: 'https://idp.example', sub: 'bob' }],
        ['a sub that is the sid', { iss: 'https://idp.example', sub: 'sid-1' }],
      ])('finds nothing for %s', async (_name, query) => {
        await createIndexed('k1')
        expect(await t.store.findSessions(query)).toEqual([])
      })

      it('indexes a session without sid by sub only', async () => {
        const noSid = { iss: owner.iss, sub: 'alice' }
        await createIndexed('k1', noSid)
        expect(await t.store.findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
        expect(await t.store.findSessions({ iss: owner.iss, sid: 'undefined' })).toEqual([])
      })

      it('finds every session of a user, each provider session apart', async () => {
        await createIndexed('k1')
        await createIndexed('k2', { ...owner, sid: 'sid-2' })
        await createIndexed('k3', { ...owner, sub: 'bob', sid: 'sid-3' })
        expect((await t.store.findSessions({ iss: owner.iss, sub: 'alice' })).sort()).toEqual([
          'k1',
          'k2',
        ])
        expect(await t.store.findSessions({ iss: owner.iss, sid: 'sid-2' })).toEqual(['k2'])
      })

      it('deletes several sessions in one call and returns those that existed', async () => {
        await createIndexed('k1')
        await createIndexed('k2', { ...owner, sid: 'sid-2' })
        const deleted = await t.store.deleteSessions(['k1', 'ghost', 'k2'])
        expect(deleted.map((d) => d.key)).toEqual(['k1', 'k2'])
        expect(deleted[0]?.session.tokens.refreshToken).toBe('rt-1')
        expect(await t.store.getSession('k1')).toBeNull()
        expect(await t.store.getSession('k2')).toBeNull()
        expect(await t.store.deleteSessions([])).toEqual([])
      })

      it('deletes more sessions than one batch holds, in order, and announces each', async () => {
        const keys = Array.from({ length: 2 * DELETE_BATCH_SIZE + 3 }, (_, i) => `many-${i}`)
        for (const key of keys.filter((_, i) => i % 3 !== 1)) {
          await t.store.createSession(key, sessionData(), 1, 60_000)
        }
        // Subscribed and proven live first: what is published before SUBSCRIBE reaches no one.
        const feed = t.store.changes?.()
        if (feed) await until(() => feed.live, 'the change feed to be live')
        const announced: Array<string | null> = []
        feed?.subscribe((key) => announced.push(key))
        const deleted = await t.store.deleteSessions(keys)
        expect(deleted.map((d) => d.key)).toEqual(keys.filter((_, i) => i % 3 !== 1))
        for (const key of keys) expect(await t.store.getSession(key)).toBeNull()
        if (feed) {
          // Each deletion is announced, or the feed says `null` (a reconnect: it may have missed
          // some, and every cache forgets everything).
          await until(
            () => announced.length >= keys.length || announced.includes(null),
            'every deletion announced',
          )
          if (!announced.includes(null)) expect(new Set(announced)).toEqual(new Set(keys))
        }
      })

      it('leaves no key behind once sessions, indexes and replay entries expire', async () => {
        await createIndexed('k1', owner, 150)
        await createIndexed('k2', { ...owner, sid: 'sid-2' }, 100)
        await t.store.rememberOnce('jti-1', 150)
        await t.store.putTransaction('s1', tx, 150)
        expect((await t.residentKeys()).length).toBeGreaterThan(0)
        await t.advance(400)
        expect(await t.residentKeys()).toEqual([])
      })

      it('keeps an index as long as its renewed session (sliding renewal re-indexes)', async () => {
        await createIndexed('k1', owner, 150)
        await t.store.touchSession('k1', 2, 60_000)
        await t.store.indexSession('k1', owner, 60_000)
        await t.advance(400)
        expect(await t.store.getSession('k1')).not.toBeNull()
        expect(await t.store.findSessions({ iss: owner.iss, sid: 'sid-1' })).toEqual(['k1'])
        expect(await t.store.findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
      })

      it('never shortens an index or an entry', async () => {
        await createIndexed('k1', owner, 60_000)
        await t.store.indexSession('k1', owner, 100)
        await t.advance(400)
        expect(await t.store.findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
      })

      it('drops the expired entry of an index that lives on for a longer session', async () => {
        await createIndexed('k1', owner, 150)
        await createIndexed('k2', { ...owner, sid: 'sid-2' }, 60_000)
        await t.advance(400)
        expect(await t.store.findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k2'])
        expect(await t.store.findSessions({ iss: owner.iss, sid: 'sid-1' })).toEqual([])
      })
    })

    describe('replay cache', () => {
      it('remembers an id once until its TTL runs out', async () => {
        expect(await t.store.rememberOnce('jti-1', 150)).toBe(true)
        expect(await t.store.rememberOnce('jti-1', 150)).toBe(false)
        expect(await t.store.rememberOnce('jti-2', 150)).toBe(true)
        await t.advance(400)
        expect(await t.store.rememberOnce('jti-1', 150)).toBe(true)
      })

      it('remembers an id again once it was forgotten', async () => {
        expect(await t.store.rememberOnce('jti-1', 60_000)).toBe(true)
        await t.store.forget('jti-1')
        expect(await t.store.rememberOnce('jti-1', 60_000)).toBe(true)
        expect(await t.store.rememberOnce('jti-1', 60_000)).toBe(false)
        await t.store.forget('never-remembered')
      })

      it('lets exactly one of several concurrent callers remember an id', async () => {
        const results = await Promise.all(
          Array.from({ length: 5 }, () => t.store.rememberOnce('jti-1', 60_000)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
      })
    })

    describe('shared tokens', () => {
      const token = (accessToken: string) => ({
        accessToken,
        tokenType: 'Bearer',
        accessTokenExpiresAt: 2e12,
        obtainedAt: 1e12,
        scope: 'api:read',
      })

      it('reads back a shared token, and null for a name never written', async () => {
        await t.store.putSharedToken('client-a', token('ct-1'), 60_000)
        expect(await t.store.getSharedToken('client-a')).toEqual(token('ct-1'))
        expect(await t.store.getSharedToken('client-b')).toBeNull()
      })

      it('replaces a shared token and keeps names apart', async () => {
        await t.store.putSharedToken('client-a', token('ct-1'), 60_000)
        await t.store.putSharedToken('client-b', token('ct-2'), 60_000)
        await t.store.putSharedToken('client-a', token('ct-3'), 60_000)
        expect((await t.store.getSharedToken('client-a'))?.accessToken).toBe('ct-3')
        expect((await t.store.getSharedToken('client-b'))?.accessToken).toBe('ct-2')
      })

      it('forgets a shared token after its TTL and leaves no key behind', async () => {
        await t.store.putSharedToken('client-a', token('ct-1'), 150)
        await t.advance(400)
        expect(await t.store.getSharedToken('client-a')).toBeNull()
        expect(await t.residentKeys()).toEqual([])
      })
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
