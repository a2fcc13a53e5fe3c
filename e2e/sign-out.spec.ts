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
  const { key, session } = await storedSession(context, broker)
  const countsBefore = provider.counts()
  const endSessionRequests: Array<{ method: string; url: string; body: string }> = []
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/session/end')) {
      endSessionRequests.push({
        method: request.method(),
        url: request.url(),
        body: request.postData() ?? '',
      })
    }
  })

  // Tab 1: POST /auth/logout → a broker page that posts the end-session form to the provider
  // (another site) → the provider's confirmation (submits itself) → back to the app.
  await page.getByTestId('sign-out').click()
  await expect(page.getByTestId('signed-out')).toBeVisible()
  // The provider sends the browser to the registered post-logout URI (with the state).
  expect(page.url().replace(/\?.*$/, '')).toBe(`${broker.url}/`)
  expect(provider.counts().endSessions - countsBefore.endSessions).toBe(1)
  // The ID token went to the provider in a POST body, never in a URL.
  const [endSession] = endSessionRequests
  expect(endSession?.method).toBe('POST')
  expect(new URLSearchParams(endSession?.body).get('id_token_hint')).toBe(session?.tokens.idToken)
  expect(endSessionRequests.every((r) => !r.url.includes('id_token_hint'))).toBe(true)
  // That cross-site POST carried the provider's session cookie (SameSite=None), so the provider
  // ended alice's session; with a Lax cookie it would have ended an empty one instead.
  const ended = provider.events.filter((e) => e.type === 'end_session.success').at(-1)
  expect(ended?.accountId).toBe('alice')
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
