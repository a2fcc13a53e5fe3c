import { expect, test } from './support/fixtures.js'
import { sessionExists, signIn, storedSession } from './support/flows.js'

test('a page on another site cannot call the API, sign the user out or frame the app', async ({
  page,
  context,
  stack,
}) => {
  const { broker, provider } = stack
  await signIn(page, stack)
  const { key } = await storedSession(context, broker)
  const endSessionsBefore = provider.counts().endSessions
  // The signed-in page's live panel opens a WebSocket of its own: only calls are counted.
  const apiCalls = () => stack.api.requests().filter((r) => !r.websocket).length
  const apiCallsBefore = apiCalls()
  const since = broker.requests.length

  const evil = await context.newPage()
  await evil.goto(`${stack.evilUrl}/`)
  const target = `${broker.url}/api/demo/x`

  // 1. A credentialed fetch: the Strict cookie stays home, the broker refuses, CORS hides it.
  const plain = await evil.evaluate(async (url) => {
    try {
      const response = await fetch(url, { credentials: 'include' })
      return { outcome: 'resolved', status: response.status }
    } catch (error) {
      return { outcome: 'rejected', error: String(error) }
    }
  }, target)
  expect(plain.outcome).toBe('rejected')

  // 2. The same with the CSRF header: a preflight the broker never grants, so no request follows.
  const withHeader = await evil.evaluate(async (url) => {
    try {
      const response = await fetch(url, { credentials: 'include', headers: { 'X-CSRF': '1' } })
      return { outcome: 'resolved', status: response.status }
    } catch (error) {
      return { outcome: 'rejected', error: String(error) }
    }
  }, target)
  expect(withHeader.outcome).toBe('rejected')

  // 3. no-cors: the page gets an opaque answer; the broker still refused it.
  const opaque = await evil.evaluate(async (url) => {
    const response = await fetch(url, { credentials: 'include', mode: 'no-cors' })
    return { type: response.type, status: response.status }
  }, target)
  expect(opaque).toEqual({ type: 'opaque', status: 0 })

  // 4. A cross-site form POST to /auth/logout.
  await evil.evaluate((action) => {
    const form = document.createElement('form')
    form.method = 'post'
    form.action = action
    document.body.append(form)
    form.submit()
  }, `${broker.url}/auth/logout`)
  await evil.waitForURL(`${broker.url}/auth/logout`)
  await expect(evil.getByText('csrf_failed')).toBeVisible()
  expect(await context.cookies(broker.url)).toContainEqual(
    expect.objectContaining({ name: broker.bff.config.cookieName }),
  )

  // 5. An iframe of the app: refused by frame-ancestors 'none' / X-Frame-Options: DENY.
  await evil.goto(`${stack.evilUrl}/`)
  await evil.evaluate(
    (src) =>
      new Promise<void>((resolve) => {
        const frame = document.createElement('iframe')
        frame.src = src
        frame.onload = () => resolve()
        document.body.append(frame)
      }),
    `${broker.url}/`,
  )
  const framed = evil.frames().filter((f) => f !== evil.mainFrame())
  expect(framed).toHaveLength(1)
  const frame = framed[0]
  // Chromium swaps in its own error page (ERR_BLOCKED_BY_RESPONSE): the app never renders.
  expect(frame?.url().startsWith(broker.url)).toBe(false)
  const framedHtml = (await frame?.content().catch(() => '')) ?? ''
  expect(framedHtml).not.toContain('Session broker demo')
  expect(framedHtml).not.toContain('id="app"')

  // What reached the broker from the attacker's page: never the session cookie, never the
  // CSRF header (the preflighted GET was never sent), every state-changing try refused.
  const fromEvil = broker.requests.slice(since).filter((r) => r.secFetchSite === 'cross-site')
  expect(fromEvil.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
    'GET /api/demo/x 403', // 1
    'OPTIONS /api/demo/x 403', // 2: the preflight, refused
    'GET /api/demo/x 403', // 3
    'POST /auth/logout 403', // 4
    'GET / 200', // 5: the framed document, which the browser then refuses to show
  ])
  expect(fromEvil.filter((r) => r.withSession || r.withCsrfHeader)).toEqual([])
  expect(apiCalls()).toBe(apiCallsBefore)

  // The session is intact.
  expect(await sessionExists(broker, key)).toBe(true)
  expect(provider.counts().endSessions).toBe(endSessionsBefore)
  await page.reload()
  await expect(page.getByTestId('user-name')).toHaveText('Alice Example')
  const user = await page.evaluate(async () => (await fetch('/auth/user')).status)
  expect(user).toBe(200)
})
