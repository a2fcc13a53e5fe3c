import { describe, expect, it } from 'vitest'
import { type MakeStores, sessionData, useStores } from './stores-under-test.js'

/** What every set's session records (SessionRecordStore) must do. */
export function sessionRecordsContract(make: MakeStores) {
  describe('sessions (SessionRecordStore)', () => {
    const t = useStores(make)
    const sessions = () => t().stores.sessions

    it('creates a session at version 1 and reads it back', async () => {
      expect(await sessions().createSession('k1', sessionData(), 123, 60_000)).toBe(true)
      const read = await sessions().getSession('k1')
      expect(read).toMatchObject({ ...sessionData(), version: 1, lastSeenAt: 123 })
    })

    it('refuses to create over an existing session', async () => {
      await sessions().createSession('k1', sessionData(), 1, 60_000)
      expect(await sessions().createSession('k1', sessionData({ sub: 'mallory' }), 1, 60_000)).toBe(
        false,
      )
      expect((await sessions().getSession('k1'))?.sub).toBe('alice')
    })

    it('returns null for an unknown session', async () => {
      expect(await sessions().getSession('nope')).toBeNull()
    })

    it('compare-and-set writes only over the expected version', async () => {
      await sessions().createSession('k1', sessionData(), 1, 60_000)
      const next = sessionData({ tokens: { ...sessionData().tokens, accessToken: 'at-2' } })
      expect(await sessions().replaceSession('k1', next, 1, 60_000)).toBe(true)
      const stale = sessionData({ tokens: { ...sessionData().tokens, accessToken: 'at-stale' } })
      expect(await sessions().replaceSession('k1', stale, 1, 60_000)).toBe(false)
      const read = await sessions().getSession('k1')
      expect(read?.version).toBe(2)
      expect(read?.tokens.accessToken).toBe('at-2')
    })

    it('compare-and-set does not resurrect a deleted session', async () => {
      await sessions().createSession('k1', sessionData(), 1, 60_000)
      await sessions().deleteSession('k1')
      expect(await sessions().replaceSession('k1', sessionData(), 1, 60_000)).toBe(false)
      expect(await sessions().getSession('k1')).toBeNull()
    })

    it('touch updates lastSeenAt without changing the version, and never creates', async () => {
      await sessions().createSession('k1', sessionData(), 1, 60_000)
      await sessions().touchSession('k1', 999, 60_000)
      expect(await sessions().getSession('k1')).toMatchObject({ version: 1, lastSeenAt: 999 })
      await sessions().touchSession('ghost', 999, 60_000)
      expect(await sessions().getSession('ghost')).toBeNull()
    })

    it('touch renews the TTL', async () => {
      await sessions().createSession('k1', sessionData(), 1, 150)
      await sessions().touchSession('k1', 2, 60_000)
      await t().advance(400)
      expect(await sessions().getSession('k1')).not.toBeNull()
    })

    it('delete returns the session once', async () => {
      await sessions().createSession('k1', sessionData(), 1, 60_000)
      expect((await sessions().deleteSession('k1'))?.sub).toBe('alice')
      expect(await sessions().deleteSession('k1')).toBeNull()
    })

    it('expires sessions after their TTL', async () => {
      await sessions().createSession('k1', sessionData(), 1, 150)
      await t().advance(400)
      expect(await sessions().getSession('k1')).toBeNull()
    })

    it('deletes several sessions in one call and returns those that existed', async () => {
      await sessions().createSession('k1', sessionData(), 1, 60_000)
      await sessions().createSession('k2', sessionData({ sid: 'sid-2' }), 1, 60_000)
      const deleted = await sessions().deleteSessions(['k1', 'ghost', 'k2'])
      expect(deleted.map((d) => d.key)).toEqual(['k1', 'k2'])
      expect(deleted[0]?.session.tokens.refreshToken).toBe('rt-1')
      expect(await sessions().getSession('k1')).toBeNull()
      expect(await sessions().getSession('k2')).toBeNull()
      expect(await sessions().deleteSessions([])).toEqual([])
    })

    it('hands out copies: changing what it returned changes nothing stored', async () => {
      await sessions().createSession('k1', sessionData(), 1, 60_000)
      const read = await sessions().getSession('k1')
      if (read) read.tokens.accessToken = 'changed'
      expect((await sessions().getSession('k1'))?.tokens.accessToken).toBe('at-1')
    })
  })
}
