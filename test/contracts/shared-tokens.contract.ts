import { describe, expect, it } from 'vitest'
import { type MakeStores, useStores } from './stores-under-test.js'

const token = (accessToken: string) => ({
  accessToken,
  tokenType: 'Bearer',
  accessTokenExpiresAt: 2e12,
  obtainedAt: 1e12,
  scope: 'api:read',
})

/** What every set's shared tokens (SharedTokenStore) must do. */
export function sharedTokensContract(make: MakeStores) {
  describe('shared tokens (SharedTokenStore)', () => {
    const t = useStores(make)
    const shared = () => t().stores.sharedTokens

    it('reads back a shared token, and null for a name never written', async () => {
      await shared().putSharedToken('client-a', token('ct-1'), 60_000)
      expect(await shared().getSharedToken('client-a')).toEqual(token('ct-1'))
      expect(await shared().getSharedToken('client-b')).toBeNull()
    })

    it('replaces a shared token and keeps names apart', async () => {
      await shared().putSharedToken('client-a', token('ct-1'), 60_000)
      await shared().putSharedToken('client-b', token('ct-2'), 60_000)
      await shared().putSharedToken('client-a', token('ct-3'), 60_000)
      expect((await shared().getSharedToken('client-a'))?.accessToken).toBe('ct-3')
      expect((await shared().getSharedToken('client-b'))?.accessToken).toBe('ct-2')
    })

    it('forgets a shared token after its TTL and leaves no key behind', async () => {
      await shared().putSharedToken('client-a', token('ct-1'), 150)
      await t().advance(400)
      expect(await shared().getSharedToken('client-a')).toBeNull()
      expect(await t().residentKeys()).toEqual([])
    })
  })
}
