import * as oidc from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DemoApi, startDemoApi } from '../../demo/api/create-demo-api.js'
import {
  reserveBrokerUrl,
  startBroker,
  storedSessionOf,
  type TestBroker,
} from '../support/broker.js'
import { endSessionFormOf } from '../support/html-form.js'
import { HttpBrowser } from '../support/http-browser.js'
import { startTestProvider, type TestProvider } from '../support/provider.js'

/*
 * The whole product on real parts: oidc-provider on `localhost` (another site than the
 * broker on 127.0.0.1, so SameSite rules apply in the test browser), a real Redis, the
 * demo API verifying the bearer against the provider's JWKS.
 */
describe('sign-in, API call and sign-out through the broker', () => {
  let provider: TestProvider
  let api: DemoApi
  let broker: TestBroker
  let clockOffset = 0

  beforeAll(async () => {
    const address = await reserveBrokerUrl()
    provider = await startTestProvider({
      publicHost: 'localhost',
      redirectUri: `${address.url}/auth/callback`,
      apiAudience: 'http://demo-api.test',
    })
    api = await startDemoApi({
      issuer: provider.issuer,
      jwksUri: provider.jwksUri,
      audience: 'http://demo-api.test',
    })
    broker = await startBroker(
      address,
      {
        issuer: provider.issuer,
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        authorizationParams: { prompt: 'consent' },
        apiRoutes: [{ prefix: '/api/demo', upstream: api.url }],
      },
      { clock: { now: () => Date.now() + clockOffset } },
    )
  })

  afterAll(async () => {
    await broker?.stop()
    await api?.stop()
    await provider?.stop()
  })

  async function signIn(returnTo?: string) {
    const browser = new HttpBrowser()
    const alice = provider.users.alice
    if (!alice) throw new Error('no dev user alice')
    const result = await browser.login({
      brokerUrl: broker.url,
      username: 'alice',
      password: alice.password,
      ...(returnTo ? { returnTo } : {}),
    })
    return { browser, ...result }
  }

  async function storedSession(browser: HttpBrowser) {
    return (await storedSessionOf(broker, browser.cookie('__Host-bff-session')?.value)).session
  }

  const apiCall = (browser: HttpBrowser, path: string, init: RequestInit = {}) =>
    browser.request(`${broker.url}${path}`, {
      kind: 'fetch',
      initiator: broker.url,
      ...init,
      headers: { 'x-csrf': '1', ...(init.headers as Record<string, string>) },
    })

  it('lands on returnTo with a 200 page and a working Strict session cookie', async () => {
    const { browser, callbackResponse } = await signIn('/orders/42?tab=items')
    expect(callbackResponse.status).toBe(200)
    const html = await callbackResponse.text()
    expect(html).toContain('content="0;url=/orders/42?tab=items"')
    // Sign-out answers a page of the broker's own that posts on to the provider: the app's
    // pages need no form target but their own origin.
    const csp = callbackResponse.headers.get('content-security-policy') ?? ''
    expect(csp).toMatch(/form-action 'self'$/)
    expect(csp).toContain("frame-ancestors 'none'")
    const cookie = browser.cookie('__Host-bff-session')
    expect(cookie).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/',
      hostOnly: true,
    })
    expect(cookie?.raw).not.toMatch(/domain=/i)
    // The transaction cookie is gone once it served its sign-in.
    expect(browser.cookies().filter((c) => c.name.startsWith('__Host-bff-tx-'))).toEqual([])
    // The page navigates onward from the broker's own origin: a same-site load that carries it.
    const user = await browser.request(`${broker.url}/auth/user`, {
      initiator: broker.url,
      kind: 'fetch',
    })
    expect(user.status).toBe(200)
  })

  it('sets the transaction cookie SameSite=Lax so the cross-site callback carries it', async () => {
    const browser = new HttpBrowser()
    const response = await browser.request(`${broker.url}/auth/login`, { initiator: broker.url })
    expect(response.status).toBe(302)
    const tx = browser.cookies().find((c) => c.name.startsWith('__Host-bff-tx-'))
    expect(tx).toMatchObject({ sameSite: 'Lax', httpOnly: true, secure: true, path: '/' })
    const location = new URL(response.headers.get('location') ?? '')
    expect(location.origin).toBe(new URL(provider.issuer).origin)
    expect(location.searchParams.get('code_challenge_method')).toBe('S256')
    expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(location.searchParams.get('state')).toBeTruthy()
    expect(location.searchParams.get('nonce')).toBeTruthy()
    expect(location.searchParams.get('redirect_uri')).toBe(`${broker.url}/auth/callback`)
    expect(response.headers.get('cache-control')).toBe('no-store')
  })

  it('answers /auth/user with claims and expiry, never a token', async () => {
    const { browser } = await signIn()
    const response = await apiCall(browser, '/auth/user')
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const text = await response.text()
    const body = JSON.parse(text)
    expect(body).toMatchObject({
      sub: 'alice',
      claims: { name: 'Alice Example', email: 'alice@example.com' },
    })
    expect(Date.parse(body.sessionExpiresAt)).toBeGreaterThan(Date.now())
    expect(Date.parse(body.absoluteExpiresAt)).toBeGreaterThanOrEqual(
      Date.parse(body.sessionExpiresAt),
    )
    const session = await storedSession(browser)
    for (const token of [
      session?.tokens.accessToken,
      session?.tokens.refreshToken,
      session?.tokens.idToken,
    ]) {
      expect(token).toBeTruthy()
      expect(text).not.toContain(token)
    }
  })

  it('answers /auth/user without a session with 401 unauthenticated', async () => {
    const response = await new HttpBrowser().request(`${broker.url}/auth/user`)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'unauthenticated' })
  })

  it('proxies /api with the session bearer and without browser credentials', async () => {
    const { browser } = await signIn()
    const response = await apiCall(browser, '/api/demo/hello?x=1', {
      headers: { 'accept-language': 'de-CH', 'x-extra': 'dropped' },
    })
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body).toMatchObject({ sub: 'alice', path: '/hello?x=1', method: 'GET' })
    expect(body.receivedHeaders.cookie).toBeUndefined()
    expect(body.receivedHeaders['x-csrf']).toBeUndefined()
    expect(body.receivedHeaders['accept-language']).toBe('de-CH')
    expect(body.receivedHeaders['x-extra']).toBeUndefined()
    const session = await storedSession(browser)
    expect(api.lastBearer()).toBe(session?.tokens.accessToken)
  })

  it('forwards request bodies to the upstream', async () => {
    const { browser } = await signIn()
    const payload = JSON.stringify({ order: 42, items: 'x'.repeat(100_000) })
    const response = await apiCall(browser, '/api/demo/orders', {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/json' },
    })
    expect(response.status).toBe(200)
    expect((await response.json()).body).toBe(payload)
  })

  it('refreshes an expired access token before proxying and rotates the refresh token', async () => {
    const { browser } = await signIn()
    const before = await storedSession(browser)
    const grantsBefore = provider.counts().refreshTokenGrants
    clockOffset = 10 * 60 * 1000
    try {
      const response = await apiCall(browser, '/api/demo/after-expiry')
      expect(response.status).toBe(200)
    } finally {
      clockOffset = 0
    }
    const after = await storedSession(browser)
    expect(provider.counts().refreshTokenGrants).toBe(grantsBefore + 1)
    expect(after?.version).toBe((before?.version ?? 0) + 1)
    expect(after?.tokens.accessToken).not.toBe(before?.tokens.accessToken)
    expect(after?.tokens.refreshToken).not.toBe(before?.tokens.refreshToken)
    expect(api.lastBearer()).toBe(after?.tokens.accessToken)
  })

  it('signs out: deletes the session, revokes the refresh token and posts the browser on to end_session', async () => {
    const { browser } = await signIn()
    const session = await storedSession(browser)
    const { key } = await storedSessionOf(broker, browser.cookie('__Host-bff-session')?.value)
    const response = await browser.request(`${broker.url}/auth/logout`, {
      method: 'POST',
      initiator: broker.url,
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('location')).toBeNull()
    const form = await endSessionFormOf(response, `${broker.url}/auth/logout`)
    expect(form?.method).toBe('POST')
    expect(new URL(form?.action ?? '').origin).toBe(new URL(provider.issuer).origin)
    expect(form?.fields.id_token_hint).toBe(session?.tokens.idToken)
    expect(form?.fields.post_logout_redirect_uri).toBe(`${broker.url}/auth/signed-out`)
    expect(form?.fields.state).toBeTruthy()
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect(await broker.store.getSession(key)).toBeNull()
    expect(provider.counts().revocations).toBeGreaterThanOrEqual(1)

    const config = await oidc.discovery(
      new URL(provider.issuer),
      provider.clientId,
      provider.clientSecret,
      oidc.ClientSecretBasic(provider.clientSecret),
      { execute: [oidc.allowInsecureRequests] },
    )
    await expect(
      oidc.refreshTokenGrant(config, session?.tokens.refreshToken ?? ''),
    ).rejects.toMatchObject({
      error: 'invalid_grant',
    })
    const after = await apiCall(browser, '/api/demo/hello')
    expect(after.status).toBe(401)
  })
})
