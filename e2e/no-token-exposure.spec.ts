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
