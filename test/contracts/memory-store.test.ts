import { createMemoryStores } from '../../src/store/memory-stores.js'
import { storeSetContract } from './store-set.contract.js'

storeSetContract('memory', async () => {
  let now = 1_000_000
  const stores = createMemoryStores({ now: () => now })
  return {
    stores,
    advance: async (ms) => {
      now += ms
    },
    residentKeys: async () => stores.residentKeys(),
    cleanup: () => stores.close(),
  }
})
