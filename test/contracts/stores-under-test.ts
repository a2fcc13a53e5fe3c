import { afterEach, beforeEach } from 'vitest'
import type { LoginTransaction, SessionData } from '../../src/session/types.js'
import type { StoreSet } from '../../src/store/interfaces.js'

/** One store set of one backend, fresh for each test. */
export interface StoresUnderTest {
  stores: StoreSet
  /** Moves the stores' notion of time forward (memory) or waits real time (Redis). */
  advance(ms: number): Promise<void>
  /** Every key the set still holds for this test, expired ones excluded. */
  residentKeys(): Promise<string[]>
  cleanup(): Promise<void>
}

export type MakeStores = () => Promise<StoresUnderTest>

/** A fresh set before each test of the calling describe, cleaned up after it. */
export function useStores(make: MakeStores): () => StoresUnderTest {
  let t: StoresUnderTest | undefined
  beforeEach(async () => {
    t = await make()
  })
  afterEach(async () => {
    await t?.cleanup()
    t = undefined
  })
  return () => {
    if (!t) throw new Error('no stores outside a test')
    return t
  }
}

export function sessionData(overrides: Partial<SessionData> = {}): SessionData {
  return {
    iss: 'https://idp.example',
    sub: 'alice',
    sid: 'sid-1',
    claims: { name: 'Alice' },
    tokens: {
      accessToken: 'at-1',
      tokenType: 'Bearer',
      accessTokenExpiresAt: 2e12,
      obtainedAt: 1e12,
      refreshToken: 'rt-1',
    },
    createdAt: 1e12,
    absoluteExpiresAt: 2e12,
    ...overrides,
  }
}

export const transaction: LoginTransaction = {
  codeVerifier: 'v',
  nonce: 'n',
  returnTo: '/x',
  bindingHash: 'h',
  createdAt: 1,
}
