import { Hono } from 'hono'
import { setCookie } from 'hono/cookie'
import { describe, expect, it } from 'vitest'
import { createBff } from '../../src/app.js'
import { securityHeaders } from '../../src/middleware/security-headers.js'
import { createLogger } from '../../src/observability/logger.js'
import { MemorySessionStore } from '../../src/store/memory-session-store.js'
import { storedSessionOf, testCookieSecrets } from '../support/broker.js'
import { endSessionFormOf } from '../support/html-form.js'
import { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

function expectAuthHeaders(response: Response) {
  expect(response.headers.get('cache-control')).toBe('no-store')
  expect(response.headers.get('referrer-policy')).toBe('no-referrer')
  expect(response.headers.get('x-content-type-options')).toBe('nosniff')
}

describe('security headers on the running broker', () => {
  const t = useScriptedBroker()

  it.each<[string, string, RequestInit]>([
    ['GET /auth/login', '/auth/login', {}],
    ['GET /auth/callback without state', '/auth/callback', {}],
    ['GET /auth/user without a session', '/auth/user', {}],
    ['GET /auth/logout', '/auth/logout', {}],
    ['GET /auth/signed-out', '/auth/signed-out', {}],
    ['POST /auth/backchannel-logout with no token', '/auth/backchannel-logout', { method: 'POST' }],
    ['GET /auth/unknown', '/auth/unknown', {}],
  ])('%s is no-store, no-referrer and nosniff', async (_name, path, init) => {
    const response = await new HttpBrowser().request(`${t.broker.url}${path}`, init)
    expectAuthHeaders(response)
  })

  it('the callback that sets the session cookie is no-store and no-referrer', async () => {
    const { response } = await t.signIn()
    expect(response.headers.getSetCookie().some((c) => c.startsWith('__Host-bff-session='))).toBe(
      true,
    )
    expectAuthHeaders(response)
  })

  it('pages carry a CSP that forbids framing, plugins and base rewriting, and lets forms post only to this origin', async () => {
    const response = await new HttpBrowser().request(`${t.broker.url}/auth/signed-out`)
    const csp = response.headers.get('content-security-policy') ?? ''
    for (const directive of [
      "frame-ancestors 'none'",
      "object-src 'none'",
      "base-uri 'none'",
      "script-src 'self'",
    ]) {
      expect(csp).toContain(directive)
    }
    // Sign-out answers the broker's own end-session page (with a CSP of its own), so no page
    // of the app needs to send a form to the provider.
    expect(csp).toMatch(/form-action 'self'$/)
    expect(response.headers.get('x-frame-options')).toBe('DENY')
  })

  it('makes proxied API answers no-store unless the upstream chose a policy', async () => {
    const { browser } = await t.signIn()
    const plain = await t.apiCall(browser, '/api/echo/personal')
    expect(plain.headers.get('cache-control')).toBe('no-store')
    expect(plain.headers.get('x-content-type-options')).toBe('nosniff')
    t.upstream.handler = (_req, res) => {
      res.writeHead(200, { 'cache-control': 'private, max-age=5' }).end('{}')
      return true
    }
    const chosen = await t.apiCall(browser, '/api/echo/cacheable')
    expect(chosen.headers.get('cache-control')).toBe('private, max-age=5')
  })

  it('an upstream cannot replace or double the broker’s headers on a proxied answer, and its CSP applies beside ours', async () => {
    const { browser } = await t.signIn()
    t.upstream.handler = (_req, res) => {
      res
        .writeHead(200, {
          'content-type': 'text/html',
          'X-Frame-Options': 'ALLOWALL',
          'x-content-type-options': 'sniff-please',
          'X-Request-Id': 'chosen-by-upstream',
          'content-security-policy': "script-src 'none'",
        })
        .end('<p>hi</p>')
      return true
    }
    const response = await t.apiCall(browser, '/api/echo/page')
    expect(response.status).toBe(200)
    expect(response.headers.get('x-frame-options')).toBe('DENY')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('x-request-id')).not.toBe('chosen-by-upstream')
    expect(response.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9_-]{12}$/)
    const csp = response.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
  })

  it('sends Clear-Site-Data "cache", "storage" on logout, never "cookies" (sibling apps keep theirs)', async () => {
    const { browser } = await t.signIn()
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      initiator: t.broker.url,
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('clear-site-data')).toBe('"cache", "storage"')
    expect(response.headers.get('clear-site-data')).not.toContain('cookies')
    expectAuthHeaders(response)
  })

  it('sends no HSTS when the public URL is http', async () => {
    const response = await new HttpBrowser().request(`${t.broker.url}/healthz`)
    expect(response.headers.get('strict-transport-security')).toBeNull()
  })
})

/** Anything shaped like a JWS: base64url JSON header and payload. */
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*/

describe('tokens in headers and URLs over a whole sign-in and sign-out', () => {
  const t = useScriptedBroker()

  it('no response of the flow carries a JWT in a header, and no request URL carries one', async () => {
    const { browser } = await t.signIn()
    const { session } = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    const idToken = session?.tokens.idToken ?? ''
    expect(idToken).toMatch(JWT)
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(200)
    expect((await t.apiCall(browser, '/api/echo/x')).status).toBe(200)
    const page = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      initiator: t.broker.url,
    })
    const form = await endSessionFormOf(page, `${t.broker.url}/auth/logout`)
    await browser.submitForm(form, `${t.broker.url}/auth/logout`)
    // The provider's redirect back, as it would send it.
    const back = new URL(form.fields.post_logout_redirect_uri ?? '')
    back.searchParams.set('state', form.fields.state ?? '')
    await browser.follow(back.href, { initiator: t.provider.issuer })

    const trail = browser.history.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`)
    for (const step of [
      'GET /authorize 302',
      'GET /auth/callback 200',
      'POST /auth/logout 200',
      'POST /end_session 200',
      'GET /auth/signed-out 303',
    ]) {
      expect(trail).toContain(step)
    }
    expect(t.provider.lastEndSessionRequest()?.body.get('id_token_hint')).toBe(idToken)
    const secrets = [idToken, session?.tokens.accessToken, session?.tokens.refreshToken] as string[]
    for (const { url, headers } of browser.history) {
      const lines = [url, ...[...headers].map(([name, value]) => `${name}: ${value}`)]
      for (const line of lines) {
        expect(JWT.test(line), `a JWT in ${line.slice(0, 60)}`).toBe(false)
        for (const secret of secrets) expect(line.includes(secret)).toBe(false)
      }
    }
  })
})

describe('security headers without a socket', () => {
  it('sends HSTS when the public URL is https', async () => {
    const bff = createBff(
      {
        publicUrl: 'https://app.example',
        issuer: 'https://idp.example',
        clientId: 'c',
        clientSecret: 's',
        cookieSecrets: testCookieSecrets(),
      },
      { store: new MemorySessionStore(), logger: createLogger('silent') },
    )
    const response = await bff.app.request('/healthz')
    expect(response.headers.get('strict-transport-security')).toBe(
      'max-age=31536000; includeSubDomains',
    )
    await bff.close()
  })

  it('turns any response that sets a cookie into no-store, whatever the route said', async () => {
    const app = new Hono()
    app.use('*', securityHeaders({ https: false, formActionOrigins: [] }))
    app.get('/sets-cookie', (c) => {
      setCookie(c, 'x', '1')
      c.header('Cache-Control', 'public, max-age=600')
      return c.text('ok')
    })
    const response = await app.request('/sets-cookie')
    expect(response.headers.get('cache-control')).toBe('no-store')
  })
})
