import { expect, test } from './support/fixtures.js'
import { sessionExists, signIn, storedSession } from './support/flows.js'

test('signing out in one tab signs the other out at its next call and ends the provider session', async ({
  page,
  context,
  stack,
}) => {
  const { broker, provider } = stack
  await signIn(page, stack)
  const other = await context.newPage()
  await other.goto(broker.url)
  await expect(other.getByTestId('signed-in')).toBeVisible()
  const { key } = await storedSession(context, broker)
  const countsBefore = provider.counts()

  // Tab 1: POST /auth/logout → provider end-session page (submits itself) → back to the app.
  await page.getByTestId('sign-out').click()
  await expect(page.getByTestId('signed-out')).toBeVisible()
  // The provider sends the browser to the registered post-logout URI (with the state).
  expect(page.url().replace(/\?.*$/, '')).toBe(`${broker.url}/`)
  expect(provider.counts().endSessions - countsBefore.endSessions).toBe(1)
  expect(provider.counts().revocations - countsBefore.revocations).toBe(1)
  expect(
    (await context.cookies(broker.url)).find((c) => c.name === broker.bff.config.cookieName),
  ).toBeUndefined()
  // Deleted on the server, not only forgotten by this browser.
  expect(await sessionExists(broker, key)).toBe(false)

  // Tab 2 still shows the user until its next call, which the broker refuses.
  await expect(other.getByTestId('signed-in')).toBeVisible()
  const refused = other.waitForResponse((r) => r.url().endsWith('/api/demo/hello'))
  await other.getByTestId('call-api').click()
  expect((await refused).status()).toBe(401)
  await expect(other.getByTestId('signed-out')).toBeVisible()
  await expect(other.getByTestId('signout-reason')).toHaveText('Your session ended')

  // The provider's session is gone too: signing in again asks for credentials.
  await other.getByTestId('sign-in').click()
  await expect(other.locator('input[name=password]')).toBeVisible()
  expect(new URL(other.url()).origin).toBe(new URL(provider.issuer).origin)
})
