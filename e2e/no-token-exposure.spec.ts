import { expect, test } from './support/fixtures.js'
import { signIn, storedSession } from './support/flows.js'

test('no access, refresh or ID token reaches anything the page can read', async ({
  page,
  context,
  stack,
}) => {
  // Every response the page receives (documents, scripts, /auth/user, /api/**), body and headers.
  const received: Promise<string>[] = []
  page.on('response', (response) => {
    received.push(
      (async () => {
        const headers = JSON.stringify(await response.allHeaders())
        const body = await response.text().catch(() => '') // redirects have no body
        return `${response.url()}\n${headers}\n${body}`
      })(),
    )
  })

  await signIn(page, stack)
  const before = await storedSession(context, stack.broker)

  await page.getByTestId('call-api').click()
  await expect(page.getByTestId('api-status')).toHaveText('200 OK')
  await expect(page.getByTestId('api-result')).toContainText('"sub": "alice"')
  await page.getByTestId('burst').click()
  await expect(page.getByTestId('burst-result')).toHaveText('30/30 ok')

  const after = await storedSession(context, stack.broker)
  const tokens = [before, after].flatMap(({ session }) => {
    const t = session?.tokens
    return [t?.accessToken, t?.refreshToken, t?.idToken]
  })
  // The hunt must be able to fail: all three tokens exist in the store.
  for (const token of tokens) expect(token?.length ?? 0).toBeGreaterThan(20)
  // Whole tokens, and for JWTs their payload and signature apart: a token cut up or
  // re-encoded around its dots is as much a leak. (Headers are shared by all JWTs.)
  const secrets = [
    ...new Set((tokens as string[]).flatMap((t) => [t, ...t.split('.').slice(1).filter(Boolean)])),
  ]

  const readable = await page.evaluate(() => ({
    cookie: document.cookie,
    localStorage: JSON.stringify({ ...localStorage }),
    sessionStorage: JSON.stringify({ ...sessionStorage }),
    dom: document.documentElement.outerHTML,
  }))
  const responses = await Promise.all(received)
  expect(responses.length).toBeGreaterThan(30)
  // The API's echo really reached the page (so the scan covers proxied bodies).
  expect(responses.some((r) => r.includes('"path":"/hello"'))).toBe(true)

  const places = {
    'document.cookie': readable.cookie,
    localStorage: readable.localStorage,
    sessionStorage: readable.sessionStorage,
    DOM: readable.dom,
    'response bodies and headers': responses.join('\n'),
  }
  for (const [place, text] of Object.entries(places)) {
    for (const secret of secrets) {
      expect(text.includes(secret), `a token appears in ${place}`).toBe(false)
    }
  }
})

/** Anything shaped like a JWS (header and payload are base64url JSON objects). */
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*/

test('signing in and out puts no token in any URL or response header, and the ID token only in the end-session form the provider receives', async ({
  page,
  context,
  stack,
}) => {
  // Every request of the page (documents, redirects, the cross-site form posts) and every answer.
  const urls: string[] = []
  const headers: Promise<string>[] = []
  const bodies: Promise<{ url: string; method: string; status: number; body: string }>[] = []
  page.on('request', (request) => urls.push(request.url()))
  page.on('response', (response) => {
    headers.push(response.allHeaders().then((h) => `${response.url()} ${JSON.stringify(h)}`))
    bodies.push(
      response
        .text()
        .catch(() => '')
        .then((body) => ({
          url: response.url(),
          method: response.request().method(),
          status: response.status(),
          body,
        })),
    )
  })

  await signIn(page, stack)
  const { session } = await storedSession(context, stack.broker)
  const idToken = session?.tokens.idToken ?? ''
  // The hunt must be able to fail: the provider's ID token is a JWT.
  expect(idToken).toMatch(JWT)
  const secrets = [session?.tokens.accessToken, session?.tokens.refreshToken, idToken] as string[]

  await page.getByTestId('sign-out').click()
  await expect(page.getByTestId('signed-out')).toBeVisible()
  const headerLines = await Promise.all(headers)
  const answers = await Promise.all(bodies)

  // The whole round trip ran: the broker's form page, the provider, back to the app.
  expect(urls.some((u) => new URL(u).pathname === '/session/end')).toBe(true)
  expect(urls.some((u) => new URL(u).pathname === '/auth/signed-out')).toBe(true)
  for (const url of urls) {
    expect(JWT.test(url), `a JWT in the URL ${url.slice(0, 80)}`).toBe(false)
    for (const secret of secrets) expect(url.includes(secret), 'a token in a URL').toBe(false)
  }
  for (const line of headerLines) {
    expect(JWT.test(line), `a JWT in a response header: ${line.slice(0, 80)}`).toBe(false)
    for (const secret of secrets) expect(line.includes(secret), 'a token in a header').toBe(false)
  }
  // Bodies: only the broker's answer to POST /auth/logout holds the ID token, as the hidden
  // field of the form that posts it to the provider's end-session endpoint. That page submits
  // itself at once, so its body is read from what the broker sent (the browser may have let it
  // go already); every other answer as the browser received it.
  const logout = stack.broker.requests.filter((r) => r.path === '/auth/logout').at(-1)
  expect(logout?.status).toBe(200)
  expect(logout?.headers.location).toBeUndefined()
  expect(logout?.body).toContain(`name="id_token_hint" value="${idToken}"`)
  expect(logout?.body).toContain(`action="${new URL('/session/end', stack.provider.issuer)}"`)
  for (const secret of secrets.slice(0, 2)) expect(logout?.body).not.toContain(secret)
  const holding = answers.filter((a) => secrets.some((secret) => a.body.includes(secret)))
  expect(
    holding.every((a) => a.method === 'POST' && new URL(a.url).pathname === '/auth/logout'),
  ).toBe(true)
  // Everything else the broker sent during the round trip, bodies included, holds no token.
  for (const request of stack.broker.requests.filter((r) => r !== logout && r.body)) {
    for (const secret of secrets) expect(request.body?.includes(secret)).toBe(false)
  }
})
