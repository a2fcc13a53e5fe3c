import { expect, test } from './support/fixtures.js'
import { signIn } from './support/flows.js'

const ENDED = 'Closed by the broker: your session ended (4401)'

test('the live panel updates over a WebSocket while signed in, and closes (4401) when the user signs out in another tab', async ({
  page,
  context,
  stack,
}) => {
  const { broker } = stack
  const socketsBefore = stack.api.requests().filter((r) => r.websocket).length
  await signIn(page, stack)
  const status = page.getByTestId('live-status')
  const count = page.getByTestId('live-count')
  await expect(status).toHaveText('Connected')
  // The demo API ticks once a second: the panel keeps updating.
  await expect
    .poll(async () => Number(await count.textContent()), { timeout: 5000 })
    .toBeGreaterThanOrEqual(3)

  const other = await context.newPage()
  await other.goto(broker.url)
  await expect(other.getByTestId('live-status')).toHaveText('Connected')
  const started = Date.now()
  await other.getByTestId('sign-out').click()
  await expect(status).toHaveText(ENDED, { timeout: 5000 })
  console.log(
    `sign-out in another tab: the first tab's socket closed within ${Date.now() - started} ms of the click`,
  )
  const frozen = Number(await count.textContent())
  await page.waitForTimeout(1500)
  expect(Number(await count.textContent())).toBe(frozen)

  // Through the broker, with the session: the first socket is the one the broker closed (4401);
  // the signing-out tab's own socket went away with its page.
  const sockets = stack.api
    .requests()
    .filter((r) => r.websocket)
    .slice(socketsBefore)
  expect(sockets.map((r) => [r.path, r.status, r.sub])).toEqual([
    ['/live', 101, 'alice'],
    ['/live', 101, 'alice'],
  ])
  await expect.poll(() => sockets[0]?.closeCode).toBe(4401)
  const handshakes = broker.requests.filter((r) => r.websocket).slice(-2)
  expect(handshakes.map((r) => [r.path, r.status, r.origin, r.withSession])).toEqual([
    ['/api/demo/live', 101, broker.url, true],
    ['/api/demo/live', 101, broker.url, true],
  ])
})

test('a page on another site cannot open a WebSocket through /api: refused, and the API sees nothing', async ({
  page,
  context,
  stack,
}) => {
  const { broker } = stack
  await signIn(page, stack)
  await expect(page.getByTestId('live-status')).toHaveText('Connected')
  const apiBefore = stack.api.requests().length
  const since = broker.requests.length

  const evil = await context.newPage()
  await evil.goto(`${stack.evilUrl}/`)
  const target = `${broker.url.replace(/^https/, 'wss')}/api/demo/live`
  const outcome = await evil.evaluate(
    (url) =>
      new Promise<string>((resolve) => {
        const socket = new WebSocket(url)
        socket.onopen = () => resolve('open')
        socket.onclose = (event) => resolve(`closed ${event.code}`)
      }),
    target,
  )
  expect(outcome).toBe('closed 1006')

  const fromEvil = broker.requests.slice(since).filter((r) => r.websocket)
  expect(fromEvil.map((r) => [r.method, r.path, r.status, r.origin])).toEqual([
    ['GET', '/api/demo/live', 403, stack.evilUrl],
  ])
  // SameSite=Strict kept the cookie home, and the Origin check refused it before the session.
  expect(fromEvil[0]?.withSession).toBe(false)
  expect(stack.api.requests().length).toBe(apiBefore)
  // The user's own socket is untouched.
  await expect(page.getByTestId('live-status')).toHaveText('Connected')
})
