import { describe, expect, it } from 'vitest'
import { storedSessionOf } from '../support/broker.js'
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

async function logout(t: ReturnType<typeof useScriptedBroker>) {
  const { browser } = await t.signIn()
  return { browser, response: await postLogout(t, browser) }
}

describe('logout with a provider end_session_endpoint', () => {
  const t = useScriptedBroker()

  it('revokes the refresh and access tokens and redirects to end_session with hint, redirect and state', async () => {
    const { browser } = await t.signIn()
    const { session } = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    const response = await postLogout(t, browser)
    expect(response.status).toBe(303)
    const location = new URL(response.headers.get('location') ?? '')
    expect(location.href.startsWith(t.provider.url('/end_session'))).toBe(true)
    expect(location.searchParams.get('id_token_hint')).toBeTruthy()
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(
      `${t.broker.url}/auth/signed-out`,
    )
    expect(location.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    expect(t.provider.revokedTokens.sort()).toEqual(
      [session?.tokens.refreshToken, session?.tokens.accessToken].sort(),
    )
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(401)
  })

  it('binds the logout state to the browser and sends it to the app when it comes back', async () => {
    const { browser, response } = await logout(t)
    const state = new URL(response.headers.get('location') ?? '').searchParams.get('state')
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
    expect(response.status).toBe(303)
    expect(new URL(response.headers.get('location') ?? '').pathname).toBe('/end_session')
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
