import { describe, expect, it } from 'vitest'
import type { SessionOwner } from '../../src/store/interfaces.js'
import { type MakeStores, sessionData, useStores } from './stores-under-test.js'

/** What every set's back-channel logout indexes (SessionIndexStore) must do. */
export function sessionIndexesContract(make: MakeStores) {
  describe('session indexes (SessionIndexStore)', () => {
    const t = useStores(make)
    const indexes = () => t().stores.indexes
    const owner = { iss: 'https://idp.example', sub: 'alice', sid: 'sid-1' }

    async function createIndexed(key: string, who: SessionOwner = owner, ttlMs = 60_000) {
      await t().stores.sessions.createSession(key, sessionData(who), 1, ttlMs)
      await indexes().indexSession(key, who, ttlMs)
    }

    it('finds a session by its (iss, sid) and by its (iss, sub)', async () => {
      await createIndexed('k1')
      expect(await indexes().findSessions({ iss: owner.iss, sid: 'sid-1' })).toEqual(['k1'])
      expect(await indexes().findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
    })

    it.each([
      ['another issuer with the same sid', { iss: 'https://other.example', sid: 'sid-1' }],
      ['another issuer with the same sub', { iss: 'https://other.example', sub: 'alice' }],
      ['another sid', { iss: 'https://idp.example', sid: 'sid-2' }],
      ['another sub', { iss: 'https://idp.example', sub: 'bob' }],
      ['a sub that is the sid', { iss: 'https://idp.example', sub: 'sid-1' }],
    ])('finds nothing for %s', async (_name, query) => {
      await createIndexed('k1')
      expect(await indexes().findSessions(query)).toEqual([])
    })

    it('indexes a session without sid by sub only', async () => {
      const noSid = { iss: owner.iss, sub: 'alice' }
      await createIndexed('k1', noSid)
      expect(await indexes().findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
      expect(await indexes().findSessions({ iss: owner.iss, sid: 'undefined' })).toEqual([])
    })

    it('finds every session of a user, each provider session apart', async () => {
      await createIndexed('k1')
      await createIndexed('k2', { ...owner, sid: 'sid-2' })
      await createIndexed('k3', { ...owner, sub: 'bob', sid: 'sid-3' })
      expect((await indexes().findSessions({ iss: owner.iss, sub: 'alice' })).sort()).toEqual([
        'k1',
        'k2',
      ])
      expect(await indexes().findSessions({ iss: owner.iss, sid: 'sid-2' })).toEqual(['k2'])
    })

    it('keeps an index as long as its renewed session (sliding renewal re-indexes)', async () => {
      await createIndexed('k1', owner, 150)
      await t().stores.sessions.touchSession('k1', 2, 60_000)
      await indexes().indexSession('k1', owner, 60_000)
      await t().advance(400)
      expect(await t().stores.sessions.getSession('k1')).not.toBeNull()
      expect(await indexes().findSessions({ iss: owner.iss, sid: 'sid-1' })).toEqual(['k1'])
      expect(await indexes().findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
    })

    it('never shortens an index or an entry', async () => {
      await createIndexed('k1', owner, 60_000)
      await indexes().indexSession('k1', owner, 100)
      await t().advance(400)
      expect(await indexes().findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k1'])
    })

    it('drops the expired entry of an index that lives on for a longer session', async () => {
      await createIndexed('k1', owner, 150)
      await createIndexed('k2', { ...owner, sid: 'sid-2' }, 60_000)
      await t().advance(400)
      expect(await indexes().findSessions({ iss: owner.iss, sub: 'alice' })).toEqual(['k2'])
      expect(await indexes().findSessions({ iss: owner.iss, sid: 'sid-1' })).toEqual([])
    })

    it('leaves no key behind once its sessions expire', async () => {
      await createIndexed('k1', owner, 150)
      await createIndexed('k2', { ...owner, sid: 'sid-2' }, 100)
      expect((await t().residentKeys()).length).toBeGreaterThan(0)
      await t().advance(400)
      expect(await t().residentKeys()).toEqual([])
    })
  })
}
