import { expect, test } from './support/fixtures.js'
import { signIn } from './support/flows.js'

test('silent sign-in comes back with login_required when the provider has no session, and signs in when it has one', async ({
  page,
  context,
  stack,
}) => {
  const { broker } = stack
  await page.goto(`${broker.url}/orders/42`)
  await expect(page.getByTestId('signed-out')).toBeVisible()

  // No provider session: prompt=none comes straight back, never on an error page.
  await page.getByTestId('silent-sign-in').click()
  await expect(page.getByTestId('silent-outcome')).toHaveText('Silent sign-in: login_required')
  await expect(page.getByTestId('current-path')).toHaveText('/orders/42')
  expect(new URL(page.url()).search).toBe('')

  // A provider session, but no broker session (it ended here, say it expired).
  await signIn(page, stack, broker, '/orders/42')
  await context.clearCookies({ name: broker.bff.config.cookieName })
  await page.reload()
  await expect(page.getByTestId('signed-out')).toBeVisible()
  const since = broker.requests.length
  await page.getByTestId('silent-sign-in').click()
  await expect(page.getByTestId('user-name')).toHaveText('Alice Example')
  await expect(page.getByTestId('current-path')).toHaveText('/orders/42')
  const logins = broker.requests.slice(since).filter((r) => r.path.startsWith('/auth/login'))
  expect(logins).toHaveLength(1)
  expect(new URL(logins[0]?.path ?? '/', broker.url).searchParams.get('prompt')).toBe('none')
})
