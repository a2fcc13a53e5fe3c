import { expect, test } from './support/fixtures.js'
import { signIn, storedSession } from './support/flows.js'

test('the browser holds exactly one cookie for the app: __Host-, HttpOnly, Secure, SameSite=Strict, host-only', async ({
  page,
  context,
  stack,
}) => {
  const { broker } = stack
  await signIn(page, stack)

  const appHost = new URL(broker.url).hostname
  const appCookies = (await context.cookies()).filter(
    (c) => c.domain.replace(/^\./, '') === appHost,
  )
  // The login transaction cookie (__Host-bff-tx-<…>) must be gone: only the session remains.
  expect(appCookies.map((c) => c.name)).toEqual(['__Host-bff-session'])
  const [cookie] = appCookies
  expect(cookie).toMatchObject({
    name: '__Host-bff-session',
    // Host-only: Playwright shows the host without a leading dot; a Domain attribute would add one.
    domain: appHost,
    path: '/',
    httpOnly: true,
    secure: true,
    sameSite: 'Strict',
  })
  // Persistent for the absolute session lifetime, not beyond it.
  const absoluteSeconds = broker.bff.config.sessionAbsoluteTimeoutSeconds
  expect(cookie?.expires).toBeGreaterThan(Date.now() / 1000 + absoluteSeconds - 60)
  expect(cookie?.expires).toBeLessThanOrEqual(Date.now() / 1000 + absoluteSeconds + 1)

  // Its value is a seal of a random session id and nothing else, not a token.
  expect(cookie?.value.startsWith('eyJ')).toBe(false)
  const { sealed, session } = await storedSession(context, broker)
  expect(Object.keys(sealed)).toEqual(['sid'])
  expect(String(sealed.sid).length).toBeGreaterThanOrEqual(43) // 256 bits, base64url
  expect(session?.sub).toBe('alice')

  // The page's script cannot read it.
  expect(await page.evaluate(() => document.cookie)).toBe('')
})
