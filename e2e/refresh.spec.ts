import type { Page } from '@playwright/test'
import { expect, test } from './support/fixtures.js'
import { signIn, storedSession } from './support/flows.js'

/** Both tabs press "Burst ×30" at once; resolves with what each shows when done. */
async function burstInBoth(tabs: Page[]): Promise<string[]> {
  await Promise.all(tabs.map((tab) => tab.getByTestId('burst').click()))
  return Promise.all(
    tabs.map(async (tab) => {
      const done = tab.getByTestId('burst-result').filter({ hasText: /\/30 ok/ })
      // A refresh that kills the session replaces the panel with the signed-out view.
      const signedOut = tab.getByTestId('signed-out')
      await expect(done.or(signedOut)).toBeVisible()
      if (await signedOut.isVisible()) return `signed out: ${await signedOut.textContent()}`
      return (await done.textContent()) ?? ''
    }),
  )
}

test('two tabs bursting after the access token expired all succeed on exactly one refresh per expiry', async ({
  page,
  context,
  stack,
  clock,
}) => {
  const { broker, provider } = stack
  await signIn(page, stack)
  const second = await context.newPage()
  await second.goto(broker.url)
  await expect(second.getByTestId('signed-in')).toBeVisible()
  const tabs = [page, second]
  const refreshesAtStart = provider.counts().refreshTokenGrants
  // The broker's client check at start is one refused refresh grant (a made-up token).
  const errorsAtStart = provider.counts().refreshTokenErrors

  for (const round of [1, 2]) {
    const before = (await storedSession(context, broker)).session
    if (!before) throw new Error('no stored session')
    // Jump the broker's clock just past the access token's expiry (no sleeping).
    clock.advance(before.tokens.accessTokenExpiresAt - clock.now() + 1_000)
    const apiCallsBefore = stack.api.requests().length

    const outcomes = await burstInBoth(tabs)

    expect(outcomes, `round ${round}`).toEqual(['30/30 ok', '30/30 ok'])
    expect(provider.counts().refreshTokenGrants - refreshesAtStart, `round ${round}`).toBe(round)
    expect(provider.counts().refreshTokenErrors - errorsAtStart).toBe(0)
    const after = (await storedSession(context, broker)).session
    // Compared as booleans, so a failure report never prints a token.
    expect(after?.tokens.accessToken !== before.tokens.accessToken, 'new access token').toBe(true)
    expect(after?.tokens.refreshToken !== before.tokens.refreshToken, 'rotated').toBe(true)
    expect(after?.version).toBe(before.version + 1)
    // The API verified every one of the 60 calls with a valid token.
    const apiCalls = stack.api.requests().slice(apiCallsBefore)
    expect(apiCalls.filter((r) => r.path.startsWith('/burst/')).map((r) => r.status)).toEqual(
      Array(60).fill(200),
    )
  }
})
