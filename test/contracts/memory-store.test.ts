import { MemorySessionStore } from '../../src/session/memory-store.js'
import { sessionStoreContract } from './session-store.contract.js'

sessionStoreContract('memory', async () => {
  let now = 1_000_000
  const store = new MemorySessionStore({ now: () => now })
  return {
    store,
    advance: async (ms) => {
      now += ms
    },
    residentKeys: async () => store.residentKeys(),
    cleanup: () => store.close(),
  }
})
