import { describe, expect, it } from 'vitest'
import { changeFeedContract } from './change-feed.contract.js'
import { locksContract } from './locks.contract.js'
import { rateLimitsContract } from './rate-limits.contract.js'
import { replayCacheContract } from './replay-cache.contract.js'
import { sessionIndexesContract } from './session-indexes.contract.js'
import { sessionRecordsContract } from './session-records.contract.js'
import { sharedTokensContract } from './shared-tokens.contract.js'
import { type MakeStores, sessionData, transaction, useStores } from './stores-under-test.js'
import { transactionsContract } from './transactions.contract.js'

/** Every store's contract, and the set's own, on one backend (`name`). */
export function storeSetContract(name: string, make: MakeStores) {
  describe(`store contracts: ${name}`, () => {
    sessionRecordsContract(make)
    sessionIndexesContract(make)
    transactionsContract(make)
    replayCacheContract(make)
    locksContract(make)
    sharedTokensContract(make)
    changeFeedContract(make)
    rateLimitsContract(make)

    describe('the set (StoreSet)', () => {
      const t = useStores(make)

      it('answers a ping and reports its configuration warnings as a list', async () => {
        await t().stores.ping()
        expect(Array.isArray(await t().stores.configurationWarnings())).toBe(true)
      })

      it('keeps each store apart: one id in every store is several keys', async () => {
        const { stores } = t()
        const owner = { iss: 'https://idp.example', sub: 'x', sid: 'x' }
        await stores.sessions.createSession('x', sessionData(owner), 1, 60_000)
        await stores.indexes.indexSession('x', owner, 60_000)
        await stores.transactions.putTransaction('x', transaction, 60_000)
        // Each store's first use of the id succeeds: none of them found another's key there.
        expect(await stores.replayCache.rememberOnce('x', 60_000)).toBe(true)
        expect(await stores.locks.acquireLock('x', 60_000)).toBeTruthy()
        await stores.sharedTokens.putSharedToken('x', sessionData().tokens, 60_000)
        expect(await stores.sessions.getSession('x')).toMatchObject({ sub: 'x' })
        expect(await stores.indexes.findSessions({ iss: owner.iss, sid: 'x' })).toEqual(['x'])
        expect(await stores.transactions.takeTransaction('x')).toEqual(transaction)
        expect(await stores.sharedTokens.getSharedToken('x')).toMatchObject({ accessToken: 'at-1' })
      })

      it('leaves no key behind once sessions, indexes, transactions and replay entries expire', async () => {
        const { stores } = t()
        const owner = { iss: 'https://idp.example', sub: 'alice', sid: 'sid-1' }
        await stores.sessions.createSession('k1', sessionData(owner), 1, 150)
        await stores.indexes.indexSession('k1', owner, 150)
        await stores.replayCache.rememberOnce('jti-1', 150)
        await stores.transactions.putTransaction('s1', transaction, 150)
        await stores.locks.acquireLock('l1', 150)
        expect((await t().residentKeys()).length).toBeGreaterThan(0)
        await t().advance(400)
        expect(await t().residentKeys()).toEqual([])
      })
    })
  })
}
