import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoApi } from '../../demo/api/create-demo-api.js'
import { ACR_PASSWORD, ACR_TWO_FACTOR } from '../../demo/provider/create-provider.js'
import { storedSessionOf, type TestBroker } from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import type { TestProvider } from '../support/provider.js'
import { type ProviderStack, startProviderStack } from '../support/provider-stack.js'

const RECENT_SECONDS = 3

/*
 * Per-route step-up against the real dev provider, which steps a user up with a one-time
 * code when acr_values asks for its two-factor class and re-authenticates for max_age.
 */
describe('per-route step-up: acr and authentication age', () => {
  let stack: ProviderStack
  let provider: TestProvider
  let api: DemoApi
  let broker: TestBroker

  beforeAll(async () => {
    stack = await startProviderStack({
      broker: (upstream) => ({
        authorizationParams: { prompt: 'consent' },
        apiRoutes: [
          { prefix: '/api/demo', upstream },
          { prefix: '/api/sensitive', upstream, acr: [ACR_TWO_FACTOR] },
          { prefix: '/api/recent', upstream, authMaxAgeSeconds: RECENT_SECONDS },
        ],
        // A value no route names, which the dev provider will not reach.
        loginAcrValues: ['urn:example:never-reached'],
      }),
    })
    ;({ provider, api, broker } = stack)
  })

  afterAll(async () => {
    await stack?.stop()
  })

  const alice = () => {
    const user = provider.users.alice
    if (!user) throw new Error('no dev user alice')
    return user
  }

  async function signIn(browser: HttpBrowser, loginParams: Record<string, string> = {}) {
    const result = await browser.login({
      brokerUrl: broker.url,
      username: 'alice',
      password: alice().password,
      oneTimeCode: alice().oneTimeCode,
      loginParams,
    })
    expect(result.callbackResponse.status).toBe(200)
    return result
  }

  const apiCall = (browser: HttpBrowser, path: string) =>
    browser.request(`${broker.url}${path}`, {
      kind: 'fetch',
      initiator: broker.url,
      headers: { 'x-csrf': '1' },
    })

  const forwarded = (prefix: string) => api.requests().filter((r) => r.path.startsWith(prefix))

  it('refuses a password-only session on an acr route with 401 step_up_required, forwarding nothing', async () => {
    const browser = new HttpBrowser()
    await signIn(browser)
    const user = await (await apiCall(browser, '/auth/user')).json()
    expect(user.acr).toBe(ACR_PASSWORD)
    expect(Date.parse(user.authenticatedAt)).toBeGreaterThan(Date.now() - 60_000)

    const before = api.requests().length
    const refused = await apiCall(browser, '/api/sensitive/hello')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('cache-control')).toBe('no-store')
    expect(refused.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_user_authentication", acr_values="${ACR_TWO_FACTOR}"`,
    )
    const body = await refused.json()
    expect(body).toMatchObject({
      error: 'step_up_required',
      acr_values: ACR_TWO_FACTOR,
      login_url: `/auth/login?acr_values=${encodeURIComponent(ACR_TWO_FACTOR)}`,
    })
    expect(api.requests().length).toBe(before)
    // The session itself is untouched: the plain route still works.
    expect((await apiCall(browser, '/api/demo/hello')).status).toBe(200)
  })

  it('steps up through login_url: the provider asks for the one-time code, the old session is replaced, the route then answers', async () => {
    const browser = new HttpBrowser()
    await signIn(browser)
    const oldCookie = browser.cookie('__Host-bff-session')?.value
    const refused = await (await apiCall(browser, '/api/sensitive/hello')).json()

    const loginUrl = new URL(refused.login_url, broker.url)
    const before = browser.history.length
    const result = await browser.login({
      brokerUrl: broker.url,
      username: 'alice',
      password: alice().password,
      oneTimeCode: alice().oneTimeCode,
      loginParams: Object.fromEntries(loginUrl.searchParams),
    })
    const pages = browser.history.slice(before).map((entry) => entry.url)
    expect(result.callbackResponse.status).toBe(200)
    // The provider had a session already; the step-up made it show its login page again.
    expect(pages.some((url) => url.includes('/interaction/'))).toBe(true)

    const ok = await apiCall(browser, '/api/sensitive/hello')
    expect(ok.status).toBe(200)
    expect(forwarded('/hello').at(-1)?.sub).toBe('alice')
    expect((await (await apiCall(browser, '/auth/user')).json()).acr).toBe(ACR_TWO_FACTOR)
    expect((await storedSessionOf(broker, oldCookie)).session).toBeNull()
  })

  it('refuses a wrong one-time code at the provider: no session is upgraded', async () => {
    const browser = new HttpBrowser()
    await signIn(browser)
    const attempt = browser.login({
      brokerUrl: broker.url,
      username: 'alice',
      password: alice().password,
      oneTimeCode: '', // not alice's
      loginParams: { acr_values: ACR_TWO_FACTOR },
    })
    await expect(attempt).rejects.toThrow(/login refused/)
    expect((await apiCall(browser, '/api/sensitive/hello')).status).toBe(401)
  })

  it('refuses at the callback a sign-in whose acr is not among the acr_values asked for', async () => {
    const browser = new HttpBrowser()
    await signIn(browser)
    const before = browser.cookie('__Host-bff-session')?.value
    const { callbackResponse } = await browser.login({
      brokerUrl: broker.url,
      username: 'alice',
      password: alice().password,
      loginParams: { acr_values: 'urn:example:never-reached' },
    })
    expect(callbackResponse.status).toBe(400)
    expect(await callbackResponse.text()).toMatch(/did not confirm the stronger sign-in.*\(acr\)/)
    const metrics = await broker.bff.metrics.registry.metrics()
    expect(metrics).toMatch(/bff_login_failures_total\{stage="callback",reason="acr"\} 1/)
    // The session the browser had is kept: a failed step-up signs nobody out.
    expect(browser.cookie('__Host-bff-session')?.value).toBe(before)
    expect((await apiCall(browser, '/api/demo/hello')).status).toBe(200)
  })

  it('refuses an authentication older than the route allows, and a max_age sign-in re-authenticates', async () => {
    const browser = new HttpBrowser()
    await signIn(browser)
    expect((await apiCall(browser, '/api/recent/hello')).status).toBe(200)
    // auth_time is in whole seconds: past RECENT_SECONDS + 1, the sign-in is too old.
    await sleep((RECENT_SECONDS + 1.2) * 1000)
    const refused = await apiCall(browser, '/api/recent/hello')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_user_authentication", max_age=${RECENT_SECONDS}`,
    )
    const body = await refused.json()
    expect(body).toMatchObject({
      error: 'step_up_required',
      max_age: RECENT_SECONDS,
      login_url: `/auth/login?max_age=${RECENT_SECONDS}`,
    })

    const before = browser.history.length
    await signIn(browser, { max_age: String(RECENT_SECONDS) })
    const shown = browser.history.slice(before).map((entry) => entry.url)
    expect(shown.some((url) => url.includes('/interaction/'))).toBe(true)
    expect((await apiCall(browser, '/api/recent/hello')).status).toBe(200)
  })

  it('refuses sign-in links asking for anything off the allow-list, before any transaction', async () => {
    const refusals = [
      'acr_values=urn:example:not-configured',
      `acr_values=${ACR_TWO_FACTOR}&acr_values=${ACR_TWO_FACTOR}`,
      'max_age=60',
      'max_age=-1',
      'max_age=3.5',
      'prompt=login',
      'prompt=consent',
      'prompt=none&prompt=none',
    ]
    for (const query of refusals) {
      const browser = new HttpBrowser()
      const response = await browser.request(`${broker.url}/auth/login?${query}`)
      expect(response.status, query).toBe(400)
      expect(await response.text(), query).toMatch(/invalid_login_request/)
      expect(browser.cookies(), query).toEqual([])
    }
  })
})
