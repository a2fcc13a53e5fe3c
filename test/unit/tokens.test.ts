import { describe, expect, it } from 'vitest'
import { needsRefresh, refreshDueAt } from '../../src/session/tokens.js'
import type { TokenSet } from '../../src/session/types.js'

function tokens(lifetimeSeconds: number): TokenSet {
  return {
    accessToken: 'a',
    tokenType: 'Bearer',
    obtainedAt: 0,
    accessTokenExpiresAt: lifetimeSeconds * 1000,
  }
}

describe('refresh timing', () => {
  it('refreshes a long-lived token one buffer before expiry', () => {
    expect(refreshDueAt(tokens(3600), 60_000)).toBe(3_540_000)
    expect(needsRefresh(tokens(3600), 3_539_999, 60_000)).toBe(false)
    expect(needsRefresh(tokens(3600), 3_540_000, 60_000)).toBe(true)
  })

  it('refreshes a token shorter than twice the buffer at half its life, not on every request', () => {
    expect(refreshDueAt(tokens(30), 60_000)).toBe(15_000)
    expect(needsRefresh(tokens(30), 14_999, 60_000)).toBe(false)
  })

  it('refreshes an expired token', () => {
    expect(needsRefresh(tokens(60), 61_000, 0)).toBe(true)
  })
})
