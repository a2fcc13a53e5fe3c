import { expect, test } from './support/fixtures.js'

test('when the user denies consent the app shows a readable error page with a way back', async ({
  page,
  context,
  stack,
}) => {
  const { broker, provider } = stack
  const codeGrantsBefore = provider.counts().authorizationCodeGrants
  await page.goto(broker.url)
  await page.getByTestId('sign-in').click()
  await page.locator('input[name=username]').fill('alice')
  await page.locator('input[name=password]').fill(provider.users.alice?.password ?? '')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: 'Deny' }).click()

  // The provider sends the browser back with error=access_denied; the broker renders it.
  await page.waitForURL((url) => url.origin === broker.url && url.pathname === '/auth/callback')
  expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied')
  await expect(page.getByRole('heading', { name: 'Sign-in problem' })).toBeVisible()
  const main = page.locator('main')
  await expect(main).toContainText('The identity provider did not complete the sign-in')
  await expect(main).toContainText('access_denied')
  await expect(main.locator('code').first()).toHaveText('provider_error')
  // No stack trace, no source paths, no internals.
  const text = (await page.locator('body').textContent()) ?? ''
  expect(text).not.toMatch(/\bat \S+ \(|\.[jt]s:\d+|node_modules|Error:/)

  // No code was redeemed, no session made, and the transaction cookie is gone.
  expect(provider.counts().authorizationCodeGrants).toBe(codeGrantsBefore)
  expect(await context.cookies(broker.url)).toEqual([])

  // The way back leads to the app, signed out.
  const back = page.getByRole('link', { name: 'Back to the app' })
  await expect(back).toHaveAttribute('href', '/')
  await back.click()
  await expect(page.getByTestId('signed-out')).toBeVisible()
  expect(page.url()).toBe(`${broker.url}/`)
})
