import { describe, expect, it } from 'vitest'
import { useScriptedBroker } from '../support/scripted-broker.js'

const withoutEndSession = {
  metadata: ({ end_session_endpoint: _e, ...rest }: Record<string, unknown>) => rest,
}

async function logout(t: ReturnType<typeof useScriptedBroker>) {
  const { browser } = await t.signIn()
  const response = await browser.request(`${t.broker.url}/auth/logout`, {
    method: 'POST',
    initiator: t.broker.url,
  })
  return { browser, response }
}

describe('logout with a provider end_session_endpoint', () => {
  const t = useScriptedBroker()

  it('revokes the refresh token and redirects to end_session with hint, redirect and state', async () => {
    const { browser, response } = await logout(t)
    expect(response.status).toBe(303)
    const location = new URL(response.headers.get('location') ?? '')
    expect(location.href.startsWith(t.provider.url('/end_session'))).toBe(true)
    expect(location.searchParams.get('id_token_hint')).toBeTruthy()
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${t.broker.url}/`)
    expect(location.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    expect(t.provider.revokedTokens).toHaveLength(1)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(401)
  })

  it('still ends the local session when revocation fails', async () => {
    t.provider.script.tokenResponse = undefined
    const { browser } = await t.signIn()
    await t.provider.stop()
    const response = await browser.request(`${t.broker.url}/auth/logout`, {
      method: 'POST',
      initiator: t.broker.url,
    })
    expect(response.status).toBe(303)
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(401)
  })
})

describe('logout with a provider that has no end_session_endpoint', () => {
  describe('and a configured logout URL', () => {
    const t = useScriptedBroker({ logoutUrl: 'https://idp.example/logout' }, {}, withoutEndSession)
    it('redirects to the configured logout URL', async () => {
      const { response } = await logout(t)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toBe('https://idp.example/logout')
    })
  })

  describe('and no logout URL', () => {
    const t = useScriptedBroker({}, {}, withoutEndSession)
    it('redirects home', async () => {
      const { response } = await logout(t)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toBe('/')
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
