import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/*
 * Attacks on GET /auth/callback. A negative case passes only if the broker stops before
 * redeeming the code: the scripted provider counts token endpoint calls.
 */
describe('callback attacks', () => {
  const t = useScriptedBroker()

  /** Starts a sign-in and returns the callback URL the provider would send the browser to. */
  async function pendingCallback(browser = new HttpBrowser()) {
    const login = await browser.request(`${t.broker.url}/auth/login`, { initiator: t.broker.url })
    const authorize = await browser.request(login.headers.get('location') ?? '', {
      initiator: t.broker.url,
    })
    return { browser, callback: new URL(authorize.headers.get('location') ?? '') }
  }

  const openCallback = (browser: HttpBrowser, url: URL | string) =>
    browser.request(url.toString(), { initiator: t.provider.issuer })

  async function expectRefused(response: Response, code: string) {
    expect(response.status).toBe(400)
    const html = await response.text()
    expect(html).toContain(code)
    expect(html).toContain('href="/"')
  }

  it('completes an untouched callback (control)', async () => {
    const { browser, callback } = await pendingCallback()
    const response = await openCallback(browser, callback)
    expect(response.status).toBe(200)
    expect(t.provider.calls.token).toBe(1)
  })

  it.each([
    ['missing', (u: URL) => u.searchParams.delete('state')],
    ['wrong', (u: URL) => u.searchParams.set('state', 'forged-state')],
    ['duplicated', (u: URL) => u.searchParams.append('state', 'second')],
    ['oversized', (u: URL) => u.searchParams.set('state', 'x'.repeat(5000))],
  ])('refuses a %s state without redeeming the code', async (_name, tamper) => {
    const { browser, callback } = await pendingCallback()
    tamper(callback)
    await expectRefused(await openCallback(browser, callback), 'login_state_mismatch')
    expect(t.provider.calls.token).toBe(0)
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
  })

  it('refuses a replayed callback after a successful sign-in, creating no second session', async () => {
    const { browser, callback } = await pendingCallback()
    expect((await openCallback(browser, callback)).status).toBe(200)
    const sessions = await t.sessionKeys()
    await expectRefused(await openCallback(browser, callback), 'login_state_mismatch')
    expect(t.provider.calls.token).toBe(1)
    expect(await t.sessionKeys()).toEqual(sessions)
  })

  it("refuses a callback opened in another browser, and burns the victim's transaction", async () => {
    const { browser: victim, callback } = await pendingCallback()
    const attacker = new HttpBrowser()
    await expectRefused(await openCallback(attacker, callback), 'login_state_mismatch')
    expect(t.provider.calls.token).toBe(0)
    expect(attacker.cookie('__Host-bff-session')).toBeUndefined()
    await expectRefused(await openCallback(victim, callback), 'login_state_mismatch')
  })

  it('refuses a wrong RFC 9207 iss parameter without redeeming the code', async () => {
    const { browser, callback } = await pendingCallback()
    callback.searchParams.set('iss', 'http://evil.test')
    await expectRefused(await openCallback(browser, callback), 'login_failed')
    expect(t.provider.calls.token).toBe(0)
  })

  it('refuses a missing iss parameter when the provider advertises it', async () => {
    const { browser, callback } = await pendingCallback()
    callback.searchParams.delete('iss')
    await expectRefused(await openCallback(browser, callback), 'login_failed')
    expect(t.provider.calls.token).toBe(0)
  })

  it('shows a provider error as a readable page with the description escaped', async () => {
    t.provider.script.authorizeRedirect = ({ redirectUri, state, issuer }) => {
      const url = new URL(redirectUri)
      url.searchParams.set('error', 'access_denied')
      url.searchParams.set('error_description', '<script>alert(1)</script><b>denied</b>')
      url.searchParams.set('state', state ?? '')
      url.searchParams.set('iss', issuer)
      return url.href
    }
    const { browser, callback } = await pendingCallback()
    const response = await openCallback(browser, callback)
    expect(response.status).toBe(400)
    const html = await response.text()
    expect(html).toContain('access_denied')
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).not.toContain('<script>')
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(t.provider.calls.token).toBe(0)
  })

  it('keeps redirect_uri from configuration whatever Host or X-Forwarded-Host say', async () => {
    const browser = new HttpBrowser()
    const login = await browser.request(`${t.broker.url}/auth/login`, {
      initiator: t.broker.url,
      headers: { 'x-forwarded-host': 'evil.test', 'x-forwarded-proto': 'https' },
    })
    const authorize = new URL(login.headers.get('location') ?? '')
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${t.broker.url}/auth/callback`)
    const callback = new URL((await browser.request(authorize.href)).headers.get('location') ?? '')
    const response = await browser.request(callback.href, {
      initiator: t.provider.issuer,
      headers: { 'x-forwarded-host': 'evil.test' },
    })
    expect(response.status).toBe(200)
    const tokenCall = t.provider.tokenRequests.at(-1)
    expect(tokenCall?.params.get('redirect_uri')).toBe(`${t.broker.url}/auth/callback`)
  })

  it('keeps redirect_uri from configuration whatever the Host header says', async () => {
    const url = new URL(t.broker.url)
    const location = await new Promise<string>((resolve, reject) => {
      request(
        { host: url.hostname, port: url.port, path: '/auth/login', headers: { host: 'evil.test' } },
        (res) => {
          res.resume()
          resolve(res.headers.location ?? '')
        },
      )
        .on('error', reject)
        .end()
    })
    const authorize = new URL(location)
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${t.broker.url}/auth/callback`)
  })

  it('lets two tabs of one browser sign in at once', async () => {
    const browser = new HttpBrowser()
    const first = await pendingCallback(browser)
    const second = await pendingCallback(browser)
    expect((await openCallback(browser, second.callback)).status).toBe(200)
    expect((await openCallback(browser, first.callback)).status).toBe(200)
  })

  it('caps the transaction cookies a browser collects from abandoned sign-ins', async () => {
    const browser = new HttpBrowser()
    for (let i = 0; i < 8; i++) {
      await browser.request(`${t.broker.url}/auth/login`, { initiator: t.broker.url })
    }
    const pending = browser.cookies().filter((c) => c.name.startsWith('__Host-bff-tx-'))
    expect(pending.length).toBeLessThanOrEqual(5)
  })

  it('destroys the session a browser held before signing in again (fixation)', async () => {
    const { browser } = await t.signIn()
    const before = await t.sessionKeys()
    const oldCookie = browser.cookie('__Host-bff-session')?.value
    expect(before.length).toBeGreaterThan(0)
    await t.signIn(browser)
    const newCookie = browser.cookie('__Host-bff-session')?.value
    expect(newCookie).not.toBe(oldCookie)
    const after = await t.sessionKeys()
    expect(after.length).toBe(before.length)
    // The old cookie no longer opens anything.
    const planted = new HttpBrowser()
    const response = await planted.request(`${t.broker.url}/auth/user`, {
      headers: { cookie: `__Host-bff-session=${oldCookie}` },
    })
    expect(response.status).toBe(401)
  })
})
