import { expect, test } from './support/fixtures.js'
import { sessionExists, signIn, storedSession } from './support/flows.js'
import { SHORT_IDLE_TIMEOUT_SECONDS } from './support/stack.js'

test('an idle session expires and the app shows "Your session expired"', async ({
  page,
  context,
  stack,
  clock,
}) => {
  const broker = stack.shortIdleBroker
  const idleMs = SHORT_IDLE_TIMEOUT_SECONDS * 1000
  await signIn(page, stack, broker)
  const { key } = await storedSession(context, broker)
  const callApi = async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/demo/hello'))
    await page.getByTestId('call-api').click()
    return (await answered).status()
  }

  // Sliding: activity within the idle window keeps the session going past one window.
  clock.advance(idleMs - 10_000)
  expect(await callApi()).toBe(200)
  clock.advance(idleMs - 10_000)
  expect(await callApi()).toBe(200)

  // Idle for longer than the window: the next call finds the session expired.
  clock.advance(idleMs + 1_000)
  expect(await callApi()).toBe(401)
  await expect(page.getByTestId('signed-out')).toBeVisible()
  await expect(page.getByTestId('signout-reason')).toHaveText('Your session expired')
  expect(await sessionExists(broker, key)).toBe(false)
  expect(
    (await context.cookies(broker.url)).find((c) => c.name === broker.bff.config.cookieName),
  ).toBeUndefined()
})
