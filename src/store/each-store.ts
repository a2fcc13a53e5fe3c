import type { StoreSet } from './interfaces.js'

/** A member of a store set that holds state (every field but `kind` and the set's own methods). */
export type StoreMember = Exclude<
  keyof StoreSet,
  'kind' | 'changes' | 'ping' | 'configurationWarnings' | 'close'
>

/**
 * The same set with `wrap` around each member, and around the set's own methods as one more
 * object (`member` undefined): how createBff puts every store command behind metrics, spans and
 * the store's circuit, each method keeping its name.
 */
export function withEachStore(
  stores: StoreSet,
  wrap: <S extends object>(store: S, member: StoreMember | undefined) => S,
): StoreSet {
  const own = wrap(
    {
      changes: () => stores.changes(),
      ping: () => stores.ping(),
      configurationWarnings: () => stores.configurationWarnings(),
      close: () => stores.close(),
    },
    undefined,
  )
  return {
    kind: stores.kind,
    sessions: wrap(stores.sessions, 'sessions'),
    indexes: wrap(stores.indexes, 'indexes'),
    transactions: wrap(stores.transactions, 'transactions'),
    replayCache: wrap(stores.replayCache, 'replayCache'),
    locks: wrap(stores.locks, 'locks'),
    sharedTokens: wrap(stores.sharedTokens, 'sharedTokens'),
    rateLimits: wrap(stores.rateLimits, 'rateLimits'),
    changes: () => own.changes(),
    ping: () => own.ping(),
    configurationWarnings: () => own.configurationWarnings(),
    close: () => own.close(),
  }
}
