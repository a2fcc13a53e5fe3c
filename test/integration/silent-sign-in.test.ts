import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storedSessionOf, type TestBroker } from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import type { TestProvider } from '../support/provider.js'
import { type ProviderStack, startProviderStack } from '../support/provider-stack.js'

/*
 * GET /auth/login?prompt=none against the real dev provider: every outcome comes back to
 * the app's return URL as `silent_login=…`, never as an error page, so an SPA can try it
 * on load.
 */
describe('silent sign-in (prompt=none)', () => {
  let stack: ProviderStack
  let provider: TestProvider
  let broker: TestBroker

  beforeAll(async () => {
    stack = await startProviderStack({
      // Configured parameters a silent sign-in must override: prompt=none alone.
      broker: () => ({ authorizationParams: { prompt: 'consent' } }),
    })
    ;({ provider, broker } = stack)
  })

  afterAll(async () => {
    await stack?.stop()
  })

  const silentLogin = (browser: HttpBrowser, returnTo: string) =>
    browser.follow(
      `${broker.url}/auth/login?prompt=none&returnTo=${encodeURIComponent(returnTo)}`,
      { initiator: broker.url },
    )

  const metrics = () => broker.bff.metrics.registry.metrics()

  it('returns a browser the provider does not know to the app with login_required, and no session', async () => {
    const browser = new HttpBrowser()
    const response = await silentLogin(browser, '/orders?page=2#top')
    const landed = new URL(browser.lastUrl ?? '')
    expect(landed.origin).toBe(broker.url)
    expect(`${landed.pathname}${landed.search}${landed.hash}`).toBe(
      '/orders?page=2&silent_login=login_required#top',
    )
    expect(response.status).not.toBe(400)
    // It went to the provider with prompt=none, not the configured prompt=consent.
    const authorize = browser.history.find((entry) => entry.url.startsWith(provider.issuer))
    expect(new URL(authorize?.url ?? '').searchParams.getAll('prompt')).toEqual(['none'])
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect(browser.cookies().filter((c) => c.name.startsWith('__Host-bff-tx'))).toEqual([])
    expect(await metrics()).toMatch(/bff_silent_logins_total\{outcome="login_required"\} 1/)
    expect(await metrics()).not.toMatch(/bff_login_failures_total\{stage="callback"/)
  })

  it('signs in without a page when the provider has a session and consent, and says so', async () => {
    const browser = new HttpBrowser()
    const alice = provider.users.alice
    if (!alice) throw new Error('no dev user alice')
    await browser.login({ brokerUrl: broker.url, username: 'alice', password: alice.password })
    // The app's session ends here (another tab signed out locally, or it expired); the
    // provider's session lives on.
    const first = browser.cookie('__Host-bff-session')?.value
    await broker.store.deleteSession((await storedSessionOf(broker, first)).key)
    const signedOut = await browser.request(`${broker.url}/auth/user`, {
      kind: 'fetch',
      initiator: broker.url,
      headers: { 'x-csrf': '1' },
    })
    expect(signedOut.status).toBe(401)

    const callback = await browser.follow(
      `${broker.url}/auth/login?prompt=none&returnTo=/inbox`,
      { initiator: broker.url },
      { stopAt: (url) => url.pathname === '/auth/callback' },
    )
    expect(callback.status).toBe(200)
    expect(await callback.text()).toContain('url=/inbox?silent_login=signed_in')
    const user = await browser.request(`${broker.url}/auth/user`, {
      kind: 'fetch',
      initiator: broker.url,
      headers: { 'x-csrf': '1' },
    })
    expect(user.status).toBe(200)
    expect((await user.json()).sub).toBe('alice')
    expect(await metrics()).toMatch(/bff_silent_logins_total\{outcome="signed_in"\} 1/)
  })

  it('sends any other failure of a silent sign-in back as failed, with the reason in the log only', async () => {
    const browser = new HttpBrowser()
    // Stop at the provider: the answer is forged below with this sign-in's real state.
    await browser.follow(
      `${broker.url}/auth/login?prompt=none&returnTo=/home`,
      { initiator: broker.url },
      { stopAt: (url) => url.href.startsWith(provider.issuer) },
    )
    const authorize = new URL(browser.lastUrl ?? '')
    const state = authorize.searchParams.get('state') ?? ''
    const callback = new URL(`${broker.url}/auth/callback`)
    callback.searchParams.set('state', state)
    callback.searchParams.set('error', 'temporarily_unavailable')
    const response = await browser.request(callback.href, { initiator: provider.issuer })
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe('/home?silent_login=failed')
    expect(await metrics()).toMatch(/bff_silent_logins_total\{outcome="failed"\} 1/)
    expect(await metrics()).toMatch(
      /bff_login_failures_total\{stage="callback",reason="provider_error"\} 1/,
    )
  })

  it('still shows the error page for a callback that matches no transaction (nothing says it was silent)', async () => {
    const browser = new HttpBrowser()
    const response = await browser.request(
      `${broker.url}/auth/callback?state=forged&error=login_required`,
      { initiator: provider.issuer },
    )
    expect(response.status).toBe(400)
    expect(await response.text()).toMatch(/login_state_mismatch/)
  })
})
