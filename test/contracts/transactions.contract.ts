import { describe, expect, it } from 'vitest'
import { type MakeStores, transaction, useStores } from './stores-under-test.js'

/** What every set's login transactions (TransactionStore) must do. */
export function transactionsContract(make: MakeStores) {
  describe('login transactions (TransactionStore)', () => {
    const t = useStores(make)
    const transactions = () => t().stores.transactions

    it('a transaction can be taken exactly once', async () => {
      await transactions().putTransaction('s1', transaction, 60_000)
      const [first, second] = await Promise.all([
        transactions().takeTransaction('s1'),
        transactions().takeTransaction('s1'),
      ])
      expect([first, second].filter(Boolean)).toEqual([transaction])
    })

    it('keeps transactions apart by state', async () => {
      await transactions().putTransaction('s1', transaction, 60_000)
      await transactions().putTransaction('s2', { ...transaction, nonce: 'n2' }, 60_000)
      expect((await transactions().takeTransaction('s2'))?.nonce).toBe('n2')
      expect((await transactions().takeTransaction('s1'))?.nonce).toBe('n')
      expect(await transactions().takeTransaction('s3')).toBeNull()
    })

    it('transactions expire after their TTL and leave no key behind', async () => {
      await transactions().putTransaction('s1', transaction, 150)
      await t().advance(400)
      expect(await transactions().takeTransaction('s1')).toBeNull()
      expect(await t().residentKeys()).toEqual([])
    })
  })
}
