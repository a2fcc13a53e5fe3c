import { expect, test } from './support/fixtures.js'
import { signIn, signInAtProvider } from './support/flows.js'

test('a step-up route sends the page to the provider for the one-time code and back, then answers', async ({
  page,
  stack,
}) => {
  const { broker } = stack
  await signIn(page, stack, broker, '/orders/42')
  await expect(page.getByTestId('user-acr')).toHaveText('urn:bff:dev:pwd')
  const since = broker.requests.length

  // Signed in with a password only: bffFetch meets 401 step_up_required and follows its
  // login_url, with this page as returnTo.
  await page.getByTestId('call-sensitive').click()
  await expect(page).toHaveURL((url) => url.href.startsWith(stack.provider.issuer))
  await expect(page.getByRole('heading', { name: 'Confirm it is you' })).toBeVisible()
  await expect(page.locator('input[name=code]')).toBeVisible()
  await signInAtProvider(page, stack)

  await expect(page.getByTestId('signed-in')).toBeVisible()
  await expect(page.getByTestId('current-path')).toHaveText('/orders/42')
  await expect(page.getByTestId('user-acr')).toHaveText('urn:bff:dev:2fa')
  await page.getByTestId('call-sensitive').click()
  await expect(page.getByTestId('api-status')).toHaveText('200 OK')

  // What the broker saw: the refusal, then a sign-in asking for exactly the route's acr,
  // then the same call answered.
  const seen = broker.requests.slice(since)
  const calls = seen.filter((r) => r.path === '/api/sensitive/hello').map((r) => r.status)
  expect(calls).toEqual([401, 200])
  const login = seen.find((r) => r.path.startsWith('/auth/login'))
  const asked = new URL(login?.path ?? '/', broker.url).searchParams
  expect(asked.get('acr_values')).toBe('urn:bff:dev:2fa')
  expect(asked.get('returnTo')).toBe('/orders/42')
})
