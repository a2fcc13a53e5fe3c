import { describe, expect, it } from 'vitest'
import { laneCount } from '../support/api-lane.js'
import { changeFeedLive, storedSessionOf } from '../support/broker.js'
import type { HttpBrowser } from '../support/http-browser.js'
import { rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const COOKIE = '__Host-bff-session'
const OWN = 'https://api.test'
const REPORTS = 'https://reports.test'
const refused = (error: string) => ({
  status: 400,
  body: JSON.stringify({ error }),
  contentType: 'application/json',
})
const outage = { status: 503, body: 'down', contentType: 'text/plain' }

/*
 * Tokens other than the user's own (issue 13): the broker's client-credentials token and the
 * user's token for another audience (RFC 8707), against a provider scripted to refuse or fail.
 * The scripted provider issues 300 s tokens; moving the broker's clock makes them due.
 */
describe('Tokens for other audiences and the broker’s own', () => {
  let offset = 0
  const t = useScriptedBroker(
    { resource: OWN, refreshBufferSeconds: 60 },
    { clock: { now: () => Date.now() + offset } },
    {},
    (upstream) => [
      { prefix: '/api/machine', upstream, token: 'client' },
      { prefix: '/api/jobs', upstream, token: 'client', clientScopes: ['jobs:run'] },
      { prefix: '/api/refused', upstream, token: 'client', clientScopes: ['refused'] },
      { prefix: '/api/ops', upstream, token: 'client', claims: { email: 'ops@example.test' } },
      { prefix: '/api/reports', upstream, resource: REPORTS },
    ],
  )

  async function signedIn() {
    offset = 0
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(200)
    return browser
  }
  const stored = async (browser: HttpBrowser) =>
    (await storedSessionOf(t.broker, browser.cookie(COOKIE)?.value)).session
  const bearerSeen = () => t.upstream.requests.at(-1)?.headers.authorization
  const grants = (grantType: string) =>
    t.provider.tokenRequests.filter((r) => r.grantType === grantType)

  describe('token: client', () => {
    it('refuses a request without a session or with a forged cookie: 401, no grant, nothing forwarded', async () => {
      const anonymous = await rawRequest(t.broker.url, '/api/machine/x', { 'x-csrf': '1' })
      expect(anonymous.status).toBe(401)
      const forged = await rawRequest(t.broker.url, '/api/machine/x', {
        'x-csrf': '1',
        cookie: `${COOKIE}=Fe26.2**forged`,
      })
      expect(forged.status).toBe(401)
      expect(grants('client_credentials')).toHaveLength(0)
      expect(t.upstream.requests).toHaveLength(0)
    })

    it('forwards the broker’s token, never the user’s, asked for with the route’s clientScopes, once', async () => {
      const browser = await signedIn()
      for (const path of ['/api/jobs/a', '/api/jobs/b', '/api/jobs/c']) {
        expect((await t.apiCall(browser, path)).status).toBe(200)
      }
      const asked = grants('client_credentials')
      expect(asked).toHaveLength(1)
      expect(asked[0]?.params.get('scope')).toBe('jobs:run')
      expect(asked[0]?.params.has('refresh_token')).toBe(false)
      const user = await stored(browser)
      expect(bearerSeen()).toMatch(/^Bearer client-/)
      expect(bearerSeen()).not.toBe(`Bearer ${user?.tokens.accessToken}`)
      expect(new Set(t.upstream.requests.map((r) => r.headers.authorization)).size).toBe(1)
    })

    it('claims on a client route: 403 forbidden for a user without them, and no grant', async () => {
      const browser = await signedIn()
      const response = await t.apiCall(browser, '/api/ops/x')
      expect(response.status).toBe(403)
      expect(await response.json()).toMatchObject({ error: 'forbidden' })
      expect(grants('client_credentials')).toHaveLength(0)
      expect(t.upstream.requests).toHaveLength(0)
    })

    it('a provider that refuses the grant: 500 provider_misconfigured, the session kept', async () => {
      const browser = await signedIn()
      t.provider.script.tokenResponse = () => refused('unauthorized_client')
      const response = await t.apiCall(browser, '/api/refused/x')
      expect(response.status).toBe(500)
      expect(await response.json()).toMatchObject({ error: 'provider_misconfigured' })
      expect(t.upstream.requests).toHaveLength(0)
      delete t.provider.script.tokenResponse
      expect((await t.apiCall(browser, '/api/echo/x')).status).toBe(200)
    })
  })

  describe('client, refused credentials', () => {
    it('a provider that refuses the client credentials: 502 provider_rejected_client, the session kept', async () => {
      const browser = await signedIn()
      t.provider.script.tokenResponse = () => refused('invalid_client')
      const response = await t.apiCall(browser, '/api/refused/x')
      expect(response.status).toBe(502)
      expect(await response.json()).toMatchObject({ error: 'provider_rejected_client' })
      expect(t.upstream.requests).toHaveLength(0)
      delete t.provider.script.tokenResponse
      expect((await t.apiCall(browser, '/api/echo/x')).status).toBe(200)
    })
  })

  describe('resource', () => {
    it('the sign-in asks for the user’s audience and each route’s; the code exchange names the user’s', async () => {
      await signedIn()
      expect(t.provider.lastAuthorizationRequest()?.getAll('resource')).toEqual([OWN, REPORTS])
      expect(grants('authorization_code')[0]?.params.get('resource')).toBe(OWN)
    })

    it('spends the session’s refresh token once, forwards the token for that audience, and stores the rotated refresh token', async () => {
      const browser = await signedIn()
      const before = await stored(browser)
      expect((await t.apiCall(browser, '/api/reports/a')).status).toBe(200)
      expect((await t.apiCall(browser, '/api/reports/b')).status).toBe(200)
      const refreshes = grants('refresh_token')
      expect(refreshes).toHaveLength(1)
      expect(refreshes[0]?.params.get('resource')).toBe(REPORTS)
      expect(refreshes[0]?.params.get('refresh_token')).toBe(before?.tokens.refreshToken)
      const after = await stored(browser)
      const reports = after?.tokens.resources?.[REPORTS]
      expect(bearerSeen()).toBe(`Bearer ${reports?.accessToken}`)
      expect(after?.tokens.refreshToken).not.toBe(before?.tokens.refreshToken)
      // The user's own token is untouched and still what the other routes get.
      expect(after?.tokens.accessToken).toBe(before?.tokens.accessToken)
      expect((await t.apiCall(browser, '/api/echo/own')).status).toBe(200)
      expect(bearerSeen()).toBe(`Bearer ${before?.tokens.accessToken}`)
      // The next refresh of the user's own token spends the rotated refresh token.
      offset = 400_000
      expect((await t.apiCall(browser, '/api/echo/later')).status).toBe(200)
      const own = grants('refresh_token').at(-1)
      expect(own?.params.get('refresh_token')).toBe(after?.tokens.refreshToken)
      expect(own?.params.get('resource')).toBe(OWN)
    })

    it('invalid_grant on a resource refresh ends the session: 401 session_expired, nothing forwarded', async () => {
      const browser = await signedIn()
      t.provider.script.tokenResponse = () => refused('invalid_grant')
      const response = await t.apiCall(browser, '/api/reports/a')
      expect(response.status).toBe(401)
      expect(await response.json()).toMatchObject({ error: 'session_expired' })
      expect(browser.cookie(COOKIE)).toBeUndefined()
      expect(t.upstream.requests).toHaveLength(0)
    })

    it('invalid_target (a route added after the sign-in) ends the session, so the next sign-in asks for it', async () => {
      const browser = await signedIn()
      t.provider.script.tokenResponse = () => refused('invalid_target')
      expect((await t.apiCall(browser, '/api/reports/a')).status).toBe(401)
      expect(browser.cookie(COOKIE)).toBeUndefined()
    })

    it('an outage on first use: 503 provider_unavailable, the session kept, then served once it is back', async () => {
      const browser = await signedIn()
      t.provider.script.tokenResponse = () => outage
      const failed = await t.apiCall(browser, '/api/reports/a')
      expect(failed.status).toBe(503)
      expect(await failed.json()).toMatchObject({ error: 'provider_unavailable' })
      expect(browser.cookie(COOKIE)).toBeDefined()
      delete t.provider.script.tokenResponse
      // Retried after Retry-After, when the provider's circuit lets a call through again.
      offset += Number(failed.headers.get('retry-after')) * 1000
      expect((await t.apiCall(browser, '/api/reports/b')).status).toBe(200)
    })

    it('an outage near expiry keeps forwarding the still-valid token for the resource', async () => {
      const browser = await signedIn()
      expect((await t.apiCall(browser, '/api/reports/a')).status).toBe(200)
      const first = bearerSeen()
      t.provider.script.tokenResponse = () => outage
      offset = 250_000
      expect((await t.apiCall(browser, '/api/reports/b')).status).toBe(200)
      expect(bearerSeen()).toBe(first)
      expect(grants('refresh_token')).toHaveLength(2)
    })
  })

  it('the warm lane serves both kinds from memory, with the same tokens the route gives', async () => {
    await changeFeedLive(t.broker)
    const browser = await signedIn()
    const headers = { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' }
    for (const path of ['/api/machine/w', '/api/reports/w']) {
      // The first call obtains the token; a resource token is written into the session, so
      // the second reads the session from the store again; then it is warm.
      expect((await rawRequest(t.broker.url, `${path}1`, headers)).status).toBe(200)
      const cold = bearerSeen()
      expect((await rawRequest(t.broker.url, `${path}2`, headers)).status).toBe(200)
      const before = await laneCount(t.broker)
      expect((await rawRequest(t.broker.url, `${path}3`, headers)).status).toBe(200)
      expect(await laneCount(t.broker)).toBe(before + 1)
      expect(bearerSeen()).toBe(cold)
    }
  })
})

describe('A provider whose discovery does not offer client credentials', () => {
  const t = useScriptedBroker(
    {},
    {},
    {
      metadata: (d) => ({ ...d, grant_types_supported: ['authorization_code', 'refresh_token'] }),
    },
    (upstream) => [{ prefix: '/api/machine', upstream, token: 'client' }],
  )

  it('answers a client route 500 provider_misconfigured without asking the token endpoint', async () => {
    const { browser } = await t.signIn()
    const response = await t.apiCall(browser, '/api/machine/x')
    expect(response.status).toBe(500)
    expect(await response.json()).toMatchObject({ error: 'provider_misconfigured' })
    expect(t.provider.tokenRequests.filter((r) => r.grantType === 'client_credentials')).toEqual([])
    expect(t.upstream.requests).toHaveLength(0)
  })
})
