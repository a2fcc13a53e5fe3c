import { expect, test } from './support/fixtures.js'
import { signInAtProvider } from './support/flows.js'

test('the first page load after the callback shows the signed-in user on the deep link', async ({
  page,
  stack,
}) => {
  const { broker } = stack
  const deepLink = '/orders/42?tab=items'
  await page.goto(broker.url + deepLink)
  await expect(page.getByTestId('signed-out')).toBeVisible()
  const since = broker.requests.length

  await page.getByTestId('sign-in').click()
  await signInAtProvider(page, stack)

  await expect(page.getByTestId('user-name')).toHaveText('Alice Example')
  expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(deepLink)
  await expect(page.getByTestId('current-path')).toHaveText(deepLink)

  // What the broker saw: login with the deep link, the callback answered 200 (a page that
  // navigates on, not a 302), then ONE load of the deep link that already carried the
  // Strict session cookie, and a /auth/user that succeeded at the first try. The page alone
  // cannot show the trap (its same-origin fetch of /auth/user carries the cookie even after a
  // 302), but a server-rendered first page would: with a 302 the document load has no cookie.
  const seen = broker.requests.slice(since)
  const login = seen.find((r) => r.path.startsWith('/auth/login'))
  expect(login && new URL(login.path, broker.url).searchParams.get('returnTo')).toBe(deepLink)
  const callbackAt = seen.findIndex((r) => r.path.startsWith('/auth/callback'))
  expect(callbackAt).toBeGreaterThan(-1)
  expect(seen[callbackAt]?.status).toBe(200)
  const after = seen.slice(callbackAt + 1)
  const documentLoads = after.filter((r) => r.method === 'GET' && r.path === deepLink)
  expect(documentLoads).toHaveLength(1)
  expect(documentLoads[0]?.withSession).toBe(true)
  const userCalls = after.filter((r) => r.path === '/auth/user')
  expect(userCalls.map((r) => r.status)).toEqual([200])
})
