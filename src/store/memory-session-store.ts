import { type Clock, systemClock } from '../lib/clock.js'
import { createMemoryStores, type MemoryStoreSet } from './memory-stores.js'
import { StoreSetView } from './session-store.js'

/** The in-process store set (createMemoryStores) as one SessionStore, as earlier versions had it. */
export class MemorySessionStore extends StoreSetView {
  declare readonly stores: MemoryStoreSet

  constructor(clock: Clock = systemClock) {
    super(createMemoryStores(clock))
  }

  override get kind(): 'memory' {
    return 'memory'
  }

  /** Names of everything still held (expired entries swept first); tests prove nothing lingers. */
  residentKeys(): string[] {
    return this.stores.residentKeys()
  }
}
