import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { storedSessionOf } from '../support/broker.js'
import { endSessionFormOf } from '../support/html-form.js'
import type { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const withoutEndSession = {
  metadata: ({ end_session_endpoint: _e, ...rest }: Record<string, unknown>) => rest,
}

function postLogout(t: ReturnType<typeof useScriptedBroker>, browser: HttpBrowser, query = '') {
  return browser.request(`${t.broker.url}/auth/logout${query}`, {
    method: 'POST',
    initiator: t.broker.url,
  })
}

function endSessionForm(t: ReturnType<typeof useScriptedBroker>, response: Response) {
  return endSessionFormOf(response, `${t.broker.url}/auth/logout`)
}

/** A CSP header as directive → sources. */
function directives(csp: string | null): Record<string, string[]> {
  return Object.fromEntries(
    (csp ?? '')
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name as string, sources]),
  )
}

async function logout(t: ReturnType<typeof useScriptedBroker>) {
  const { browser } = await t.signIn()
  return { browser, response: await postLogout(t, browser) }
}

describe('logout with a provider end_session_endpoint', () => {
  const t = useScriptedBroker()

  it('revokes the tokens and answers a page that posts hint, redirect, state and client_id to end_session', async () => {
    const { browser } = await t.signIn()
    const { session } = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    const response = await postLogout(t, browser)
    expect(response.status).toBe(200)
    expect(response.headers.get('location')).toBeNull()
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    const form = await endSessionForm(t, response)
    expect(form.method).toBe('POST')
    expect(form.action).toBe(t.provider.url('/end_session'))
    expect(form.fields).toEqual({
      id_token_hint: session?.tokens.idToken,
      post_logout_redirect_uri: `${t.broker.url}/auth/signed-out`,
      state: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/),
      client_id: 'bff-client',
    })
    expect(t.provider.revokedTokens.sort()).toEqual(
      [session?.tokens.refreshToken, session?.tokens.accessToken].sort(),
    )
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('referrer-policy')).toBe('no-referrer')
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(401)
  })

  it('the form carries the ID token to the provider in the body of a POST, not in its URL', async () => {
    const { browser } = await t.signIn()
    const { session } = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    const response = await postLogout(t, browser)
    await browser.submitForm(await endSessionForm(t, response), `${t.broker.url}/auth/logout`)
    const received = t.provider.lastEndSessionRequest()
    expect(received?.method).toBe('POST')
    expect(received?.body.get('id_token_hint')).toBe(session?.tokens.idToken)
    expect([...(received?.query.keys() ?? [])]).toEqual([])
  })

  it('lets the page run only its own submit script and post only to the end-session and return origins', async () => {
    const { browser } = await t.signIn()
    const response = await postLogout(t, browser)
    const html = await response.text()
    const csp = directives(response.headers.get('content-security-policy'))
    expect(csp['form-action']).toEqual([new URL(t.provider.issuer).origin, t.broker.url])
    expect(csp['default-src']).toEqual(["'none'"])
    expect(csp['frame-ancestors']).toEqual(["'none'"])
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '')
    expect(scripts).toHaveLength(1)
    const hash = createHash('sha256')
      .update(scripts[0] ?? '')
      .digest('base64')
    expect(csp['script-src']).toEqual([`'sha256-${hash}'`])
    expect(scripts[0]).toBe("document.getElementById('end-session').submit()")
    expect(html).toMatch(/<noscript>[\s\S]*<button type="submit">/)
  })

  it('binds the logout state to the browser and sends it to the app when it comes back', async () => {
    const { browser, response } = await logout(t)
    const { state } = (await endSessionForm(t, response)).fields
    expect(browser.cookie('__Host-bff-logout')).toMatchObject({
      value: state,
      sameSite: 'Lax',
      httpOnly: true,
      secure: true,
      path: '/',
    })
    // The provider's redirect back is a cross-site navigation: the Lax cookie goes with it.
    const back = await browser.request(`${t.broker.url}/auth/signed-out?state=${state}`, {
      initiator: t.provider.issuer,
    })
    expect(back.status).toBe(303)
    expect(back.headers.get('location')).toBe('/')
    expect(browser.cookie('__Host-bff-logout')).toBeUndefined()
  })

  it.each([
    ['Sec-Fetch-Mode: cors', { 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'same-origin' }],
    ['the CSRF header and no Fetch Metadata', { 'x-csrf': '1' }],
  ])(
    'answers a script’s logout (%s) with a 303 that carries no ID token, never the form',
    async (_name, headers) => {
      const { browser } = await t.signIn()
      const { session } = await storedSessionOf(
        t.broker,
        browser.cookie('__Host-bff-session')?.value,
      )
      const response = await browser.request(`${t.broker.url}/auth/logout`, {
        method: 'POST',
        initiator: t.broker.url,
        kind: 'fetch',
        headers,
      })
      expect(response.status).toBe(303)
      const body = await response.text()
      const location = new URL(response.headers.get('location') ?? '')
      expect(location.href.startsWith(t.provider.url('/end_session'))).toBe(true)
      expect(location.searchParams.get('id_token_hint')).toBeNull()
      expect(location.searchParams.get('client_id')).toBe('bff-client')
      expect(`${body}${location}`).not.toContain(session?.tokens.idToken ?? 'no ID token')
    },
  )

  it.each([
    ['another state', 'forged-state-value-0123456789'],
    ['no state', undefined],
  ])('shows the signed-out page, without redirecting, for %s', async (_name, state) => {
    const { browser } = await logout(t)
    const query = state ? `?state=${state}` : ''
    const back = await browser.request(`${t.broker.url}/auth/signed-out${query}`, {
      initiator: t.provider.issuer,
    })
    expect(back.status).toBe(200)
    const html = await back.text()
    expect(html).toContain('You are signed out')
    expect(html).toContain('href="/"')
    expect(back.headers.get('cache-control')).toBe('no-store')
  })

  it('shows the signed-out page to a browser that has no logout state cookie', async () => {
    const back = await fetch(`${t.broker.url}/auth/signed-out?state=abc`, { redirect: 'manual' })
    expect(back.status).toBe(200)
    expect(await back.text()).toContain('You are signed out')
  })

  it('refuses an unknown logout scope and keeps the session', async () => {
    const { browser } = await t.signIn()
    const response = await postLogout(t, browser, '?scope=everything')
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('invalid_request')
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(200)
  })

  it('ends the local session with a clear message when the provider cannot be reached', async () => {
    const { browser } = await t.signIn()
    await t.provider.stop()
    const response = await postLogout(t, browser)
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/auth/signed-out?provider=unreachable')
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(401)
    const page = await browser.request(`${t.broker.url}/auth/signed-out?provider=unreachable`, {
      initiator: t.broker.url,
    })
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('You are signed out')
    expect(html).toContain('identity provider could not be reached')
  })
})

describe('sign out everywhere', () => {
  const t = useScriptedBroker()

  it('ends every session of the user in one request, and no one else’s', async () => {
    const { browser: laptop } = await t.signIn()
    const { browser: phone } = await t.signIn()
    t.provider.script.idToken = { claims: (c) => ({ ...c, sub: 'user-2', sid: 'sid-9' }) }
    const { browser: someoneElse } = await t.signIn()
    t.provider.script.idToken = undefined
    const response = await postLogout(t, laptop, '?scope=all')
    expect(response.status).toBe(200)
    expect(new URL((await endSessionForm(t, response)).action).pathname).toBe('/end_session')
    expect((await t.apiCall(laptop, '/auth/user')).status).toBe(401)
    expect((await t.apiCall(phone, '/auth/user')).status).toBe(401)
    expect((await t.apiCall(someoneElse, '/auth/user')).status).toBe(200)
    // Both sessions' refresh and access tokens.
    expect(t.provider.revokedTokens).toHaveLength(4)
  })

  it('without a session redirects to the app', async () => {
    const response = await fetch(`${t.broker.url}/auth/logout?scope=all`, {
      method: 'POST',
      headers: { origin: t.broker.url },
      redirect: 'manual',
    })
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/')
  })
})

describe('logout with OIDC_END_SESSION_METHOD=get (a provider that refuses POST)', () => {
  const t = useScriptedBroker({ endSessionMethod: 'get' })

  it('redirects to end_session with client_id, redirect and state, never the ID token', async () => {
    const { browser, response } = await logout(t)
    expect(response.status).toBe(303)
    const location = new URL(response.headers.get('location') ?? '')
    expect(location.href.startsWith(t.provider.url('/end_session'))).toBe(true)
    expect(Object.fromEntries(location.searchParams)).toEqual({
      post_logout_redirect_uri: `${t.broker.url}/auth/signed-out`,
      state: browser.cookie('__Host-bff-logout')?.value,
      client_id: 'bff-client',
    })
  })

  it('lets the app’s pages send a sign-out form on to the issuer’s origin', async () => {
    const page = await fetch(`${t.broker.url}/auth/signed-out`)
    expect(directives(page.headers.get('content-security-policy'))['form-action']).toEqual([
      "'self'",
      new URL(t.provider.issuer).origin,
    ])
  })
})

describe('logout with an end_session_endpoint on another origin, with its own query', () => {
  const endpoint = 'https://logout.idp.example/end?p=b2c_1_signin'
  const t = useScriptedBroker(
    {},
    {},
    { metadata: (d) => ({ ...d, end_session_endpoint: endpoint }) },
  )

  it('posts to that endpoint, keeps its query in the action, and allows exactly its origin', async () => {
    const { response } = await logout(t)
    const form = await endSessionForm(t, response)
    expect(form.action).toBe(endpoint)
    expect(Object.keys(form.fields).sort()).toEqual(
      ['client_id', 'id_token_hint', 'post_logout_redirect_uri', 'state'].sort(),
    )
    expect(directives(response.headers.get('content-security-policy'))['form-action']).toEqual([
      'https://logout.idp.example',
      t.broker.url,
    ])
  })
})

describe('logout with a configured logout URL and an end_session_endpoint', () => {
  const t = useScriptedBroker({
    logoutUrl: 'https://idp.example/logout?client_id=bff&logout_uri=https%3A%2F%2Fapp.example',
  })
  it('redirects to the configured URL as written: configuration wins over discovery', async () => {
    const { response } = await logout(t)
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe(
      'https://idp.example/logout?client_id=bff&logout_uri=https%3A%2F%2Fapp.example',
    )
    expect(await response.text()).not.toContain('id_token_hint')
  })
})

describe('logout with a provider that has no end_session_endpoint', () => {
  describe('and a configured logout URL', () => {
    const t = useScriptedBroker({ logoutUrl: 'https://idp.example/logout' }, {}, withoutEndSession)
    it('redirects to the configured logout URL without a state cookie', async () => {
      const { browser, response } = await logout(t)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toBe('https://idp.example/logout')
      expect(browser.cookie('__Host-bff-logout')).toBeUndefined()
    })
  })

  describe('and no logout URL', () => {
    const t = useScriptedBroker({ postLogoutReturnTo: '/goodbye' }, {}, withoutEndSession)
    it('redirects to the configured app path', async () => {
      const { response } = await logout(t)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toBe('/goodbye')
    })
  })
})

describe('logout without a session', () => {
  const t = useScriptedBroker()
  it('redirects home without calling the provider', async () => {
    const response = await fetch(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      headers: { origin: t.broker.url },
      redirect: 'manual',
    })
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/')
    expect(t.provider.revokedTokens).toHaveLength(0)
  })
})
