import { describe, expect, it } from 'vitest'
import { DELETE_BATCH_SIZE, type SessionChangeFeed } from '../../src/store/interfaces.js'
import { until } from '../support/until.js'
import { type MakeStores, sessionData, useStores } from './stores-under-test.js'

/** What every set's session change feed (SessionChangeFeed) must do. */
export function changeFeedContract(make: MakeStores) {
  describe('session change feed (SessionChangeFeed)', () => {
    const t = useStores(make)

    /** The feed, subscribed and proven live first: what is published before SUBSCRIBE reaches no one. */
    async function listen(): Promise<{ feed: SessionChangeFeed; heard: Array<string | null> }> {
      const feed = t().stores.changes()
      if (!feed) throw new Error('every backend here has a change feed')
      await until(() => feed.live, 'the change feed to be live')
      const heard: Array<string | null> = []
      feed.subscribe((key) => heard.push(key))
      return { feed, heard }
    }

    /** Whether `keys` were announced; a `null` (a reconnect: some may be missed) also ends it. */
    const announced = (heard: Array<string | null>, keys: string[]) =>
      until(
        () => heard.includes(null) || keys.every((key) => heard.includes(key)),
        `${keys.join(', ')} announced`,
      )

    it('is the same feed on every call', async () => {
      expect(t().stores.changes()).toBe(t().stores.changes())
    })

    it('announces a replaced session and a deleted one, but not a touched one', async () => {
      const { sessions } = t().stores
      for (const key of ['k1', 'k2', 'k3'])
        await sessions.createSession(key, sessionData(), 1, 60_000)
      const { heard } = await listen()
      await sessions.touchSession('k3', 2, 60_000)
      await sessions.replaceSession('k1', sessionData(), 1, 60_000)
      await sessions.deleteSession('k2')
      await announced(heard, ['k1', 'k2'])
      // In any order: on a Cluster each key's master publishes it.
      if (!heard.includes(null)) expect(new Set(heard)).toEqual(new Set(['k1', 'k2']))
    })

    it('announces each of more sessions deleted at once than one batch holds', async () => {
      const { sessions } = t().stores
      const keys = Array.from({ length: 2 * DELETE_BATCH_SIZE + 3 }, (_, i) => `many-${i}`)
      for (const key of keys.filter((_, i) => i % 3 !== 1)) {
        await sessions.createSession(key, sessionData(), 1, 60_000)
      }
      const { heard } = await listen()
      const deleted = await sessions.deleteSessions(keys)
      expect(deleted.map((d) => d.key)).toEqual(keys.filter((_, i) => i % 3 !== 1))
      for (const key of keys) expect(await sessions.getSession(key)).toBeNull()
      await announced(heard, keys)
      if (!heard.includes(null)) expect(new Set(heard)).toEqual(new Set(keys))
    })
  })
}
