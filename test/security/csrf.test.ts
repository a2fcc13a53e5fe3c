import { describe, expect, it } from 'vitest'
import { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

describe('CSRF defences', () => {
  const t = useScriptedBroker()

  async function signedIn() {
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(200)
    return browser
  }

  it.each(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'])(
    'refuses %s /api without the CSRF header',
    async (method) => {
      const browser = await signedIn()
      const response = await t.apiCall(browser, '/api/echo/x', { method, csrf: false })
      expect(response.status).toBe(403)
      expect(await response.json()).toMatchObject({ error: 'csrf_failed' })
      expect(t.upstream.requests).toHaveLength(0)
    },
  )

  it.each([
    ['a cross-site Origin', { origin: 'https://evil.test' }],
    ['a same-site sibling Origin', { origin: 'http://127.0.0.1:1' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
  ])('refuses /api with %s even with the header', async (_name, headers) => {
    const browser = await signedIn()
    const response = await t.apiCall(browser, '/api/echo/x', { method: 'POST', headers })
    expect(response.status).toBe(403)
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('accepts a same-origin call with the header (control)', async () => {
    const browser = await signedIn()
    const response = await t.apiCall(browser, '/api/echo/x', {
      method: 'POST',
      headers: { origin: t.broker.url, 'sec-fetch-site': 'same-origin' },
    })
    expect(response.status).toBe(200)
  })

  it('refuses a cross-site text/plain form post to /api', async () => {
    const browser = await signedIn()
    const response = await browser.request(`${t.broker.url}/api/echo/transfer`, {
      method: 'POST',
      body: 'amount=1000',
      headers: { 'content-type': 'text/plain', cookie: browser.cookieHeaderFor(t.broker.url) },
      initiator: 'https://evil.test',
    })
    expect(response.status).toBe(403)
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('never grants a CORS preflight to a foreign origin', async () => {
    const response = await new HttpBrowser().request(`${t.broker.url}/api/echo/x`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.test',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-csrf',
      },
    })
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
    expect(response.headers.get('access-control-allow-headers')).toBeNull()
    expect(response.headers.get('access-control-allow-credentials')).toBeNull()
  })

  it('a cross-site form post to /auth/logout cannot end the session', async () => {
    const browser = await signedIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      headers: { origin: 'https://evil.test', cookie },
    })
    expect(response.status).toBe(403)
    expect((await t.apiCall(browser, '/api/echo/still-here')).status).toBe(200)
  })

  it('a logout post with neither Origin nor the CSRF header cannot end the session', async () => {
    const browser = await signedIn()
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      headers: { cookie: browser.cookieHeaderFor(t.broker.url) },
    })
    expect(response.status).toBe(403)
    expect((await t.apiCall(browser, '/api/echo/still-here')).status).toBe(200)
  })

  it('a cross-site GET to /auth/logout cannot end the session', async () => {
    const browser = await signedIn()
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      headers: { cookie: browser.cookieHeaderFor(t.broker.url) },
      initiator: 'https://evil.test',
    })
    expect(response.status).toBe(405)
    expect((await t.apiCall(browser, '/api/echo/still-here')).status).toBe(200)
  })

  it('accepts a logout from a no-referrer page (Origin: null vouched for by Sec-Fetch-Site)', async () => {
    const browser = await signedIn()
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      headers: {
        origin: 'null',
        'sec-fetch-site': 'same-origin',
        cookie: browser.cookieHeaderFor(t.broker.url),
      },
    })
    expect(response.status).toBe(200)
    expect((await t.apiCall(browser, '/api/echo/gone')).status).toBe(401)
  })

  it('refuses a logout with Origin: null and no fetch metadata', async () => {
    const browser = await signedIn()
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      headers: { origin: 'null', cookie: browser.cookieHeaderFor(t.broker.url) },
    })
    expect(response.status).toBe(403)
    expect((await t.apiCall(browser, '/api/echo/still-here')).status).toBe(200)
  })

  it('the app can sign out with a same-origin form post (control)', async () => {
    const browser = await signedIn()
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      initiator: t.broker.url,
    })
    expect(response.status).toBe(200)
    expect((await t.apiCall(browser, '/api/echo/gone')).status).toBe(401)
  })
})
