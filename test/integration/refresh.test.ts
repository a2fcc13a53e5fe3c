import { describe, expect, it } from 'vitest'
import { storedSessionOf } from '../support/broker.js'
import type { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const refreshCalls = (t: ReturnType<typeof useScriptedBroker>) =>
  t.provider.tokenRequests.filter((r) => r.grantType === 'refresh_token').length

/* The scripted provider issues 300 s access tokens; moving the broker's clock makes them due. */
describe('access token refresh', () => {
  let offset = 0
  const t = useScriptedBroker(
    { refreshBufferSeconds: 60 },
    { clock: { now: () => Date.now() + offset } },
  )

  async function signedIn() {
    offset = 0
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(200)
    return browser
  }

  async function stored(browser: HttpBrowser) {
    return (await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)).session
  }

  const bearerSeen = () => t.upstream.requests.at(-1)?.headers.authorization

  it('does not refresh a token outside the buffer', async () => {
    const browser = await signedIn()
    expect((await t.apiCall(browser, '/api/echo/a')).status).toBe(200)
    expect(refreshCalls(t)).toBe(0)
  })

  it('refreshes inside the buffer, stores the rotated refresh token and forwards the new token', async () => {
    const browser = await signedIn()
    const before = await stored(browser)
    offset = 250_000
    expect((await t.apiCall(browser, '/api/echo/a')).status).toBe(200)
    const after = await stored(browser)
    expect(refreshCalls(t)).toBe(1)
    expect(t.provider.tokenRequests.at(-1)?.params.get('refresh_token')).toBe(
      before?.tokens.refreshToken,
    )
    expect(after?.tokens.refreshToken).not.toBe(before?.tokens.refreshToken)
    expect(bearerSeen()).toBe(`Bearer ${after?.tokens.accessToken}`)
  })

  it('coalesces concurrent requests of one session into one refresh', async () => {
    const browser = await signedIn()
    offset = 400_000
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => t.apiCall(browser, `/api/echo/burst/${i}`)),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(refreshCalls(t)).toBe(1)
    const tokens = new Set(t.upstream.requests.map((r) => r.headers.authorization))
    expect(tokens.size).toBe(1)
  })

  it('keeps the old refresh token when the provider does not rotate', async () => {
    const browser = await signedIn()
    const before = await stored(browser)
    t.provider.script.tokenResponse = ({ refresh_token: _rt, ...rest }) => rest
    offset = 400_000
    expect((await t.apiCall(browser, '/api/echo/a')).status).toBe(200)
    expect((await stored(browser))?.tokens.refreshToken).toBe(before?.tokens.refreshToken)
  })

  it.each([
    [
      'invalid_grant',
      { status: 400, body: '{"error":"invalid_grant"}', contentType: 'application/json' },
    ],
    ['a non-JSON 400', { status: 400, body: '<html>bad token</html>', contentType: 'text/html' }],
  ])('ends the session on %s with 401 session_expired', async (_name, answer) => {
    const browser = await signedIn()
    t.provider.script.tokenResponse = () => answer
    offset = 400_000
    const response = await t.apiCall(browser, '/api/echo/a')
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'session_expired' })
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('keeps the session and uses the still-valid token when the provider fails inside the buffer', async () => {
    const browser = await signedIn()
    const before = await stored(browser)
    t.provider.script.tokenResponse = () => ({
      status: 503,
      body: 'down',
      contentType: 'text/plain',
    })
    offset = 250_000
    expect((await t.apiCall(browser, '/api/echo/a')).status).toBe(200)
    expect(bearerSeen()).toBe(`Bearer ${before?.tokens.accessToken}`)
  })

  it('answers 503 with Retry-After when the token expired and the provider is down, then recovers', async () => {
    const browser = await signedIn()
    t.provider.script.tokenResponse = () => ({
      status: 500,
      body: 'oops',
      contentType: 'text/plain',
    })
    offset = 400_000
    const failed = await t.apiCall(browser, '/api/echo/a')
    expect(failed.status).toBe(503)
    expect(failed.headers.get('retry-after')).toBeTruthy()
    expect(await failed.json()).toMatchObject({ error: 'provider_unavailable' })
    expect(browser.cookie('__Host-bff-session')).toBeDefined()
    delete t.provider.script.tokenResponse
    // Until Retry-After the provider's circuit answers for it; then it lets the retry through.
    const early = await t.apiCall(browser, '/api/echo/a')
    expect(early.status).toBe(503)
    offset += Number(failed.headers.get('retry-after')) * 1000
    expect((await t.apiCall(browser, '/api/echo/a')).status).toBe(200)
  })

  it('refuses a refreshed ID token naming another subject, storing nothing from it', async () => {
    const browser = await signedIn()
    t.provider.script.idToken = { claims: (c) => ({ ...c, sub: 'someone-else' }) }
    offset = 400_000
    const response = await t.apiCall(browser, '/api/echo/a')
    expect(response.status).toBe(401)
    expect(t.upstream.requests).toHaveLength(0)
  })
})
