import { describe, expect, it } from 'vitest'
import { changeFeedLive } from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import { rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const COOKIE = '__Host-bff-session'

describe('Per-route token kinds and demands', () => {
  const t = useScriptedBroker({ upstreamTimeoutSeconds: 5 }, {}, {}, (upstream) => [
    { prefix: '/api/public', upstream, token: 'none' },
    { prefix: '/api/maybe', upstream, token: 'user-optional' },
    { prefix: '/api/mail', upstream, claims: { email: 'user-1@example.test' } },
    {
      prefix: '/api/admins',
      upstream,
      claims: { email: ['root@example.test', 'ops@example.test'] },
    },
    { prefix: '/api/offline', upstream, scopes: ['offline_access', 'email'] },
    { prefix: '/api/writers', upstream, scopes: ['orders:write'] },
    { prefix: '/api/quick', upstream, timeoutSeconds: 1 },
  ])

  async function signedIn() {
    const { browser } = await t.signIn()
    return { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' }
  }
  const seen = () => t.upstream.requests.at(-1)

  it('token none: forwards without a session and never sends a bearer, even for a signed-in user', async () => {
    const anonymous = await rawRequest(t.broker.url, '/api/public/x', { 'x-csrf': '1' })
    expect(anonymous.status).toBe(200)
    expect(seen()?.headers.authorization).toBeUndefined()
    const mine = await rawRequest(t.broker.url, '/api/public/y', await signedIn())
    expect(mine.status).toBe(200)
    expect(seen()?.url).toBe('/y')
    expect(seen()?.headers.authorization).toBeUndefined()
  })

  it('token none: still needs the CSRF header', async () => {
    expect((await rawRequest(t.broker.url, '/api/public/x', {})).status).toBe(403)
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('token user-optional: the bearer when signed in, none otherwise or for an ended session', async () => {
    expect((await rawRequest(t.broker.url, '/api/maybe/a', { 'x-csrf': '1' })).status).toBe(200)
    expect(seen()?.headers.authorization).toBeUndefined()
    const headers = await signedIn()
    expect((await rawRequest(t.broker.url, '/api/maybe/b', headers)).status).toBe(200)
    expect(seen()?.headers.authorization).toMatch(/^Bearer /)
    // The seal's last MAC character changed (to another one: the same would pass, 1 time in 16).
    const tampered = headers.cookie.replace(
      /(.)(~2)$/,
      (_, last: string, end: string) => `${last === 'A' ? 'E' : 'A'}${end}`,
    )
    expect(tampered).not.toBe(headers.cookie)
    expect(
      (await rawRequest(t.broker.url, '/api/maybe/c', { ...headers, cookie: tampered })).status,
    ).toBe(200)
    expect(seen()?.headers.authorization).toBeUndefined()
  })

  it('token user (the default): 401 without a session, nothing forwarded', async () => {
    const response = await rawRequest(t.broker.url, '/api/mail/x', { 'x-csrf': '1' })
    expect(response.status).toBe(401)
    expect(t.upstream.requests).toHaveLength(0)
  })

  it.each([
    ['/api/mail/x', 200],
    ['/api/admins/x', 403],
    ['/api/offline/x', 200],
    ['/api/writers/x', 403],
  ])('%s answers %i by the session’s claims and granted scopes', async (target, status) => {
    await changeFeedLive(t.broker)
    const headers = await signedIn()
    // Twice: cold (store read) and warm (the node-level lane), the same answer.
    for (const attempt of [1, 2]) {
      const response = await rawRequest(t.broker.url, target, headers)
      expect({ attempt, status: response.status }).toEqual({ attempt, status })
      if (status === 403) {
        expect(JSON.parse(response.body)).toMatchObject({ error: 'forbidden' })
      }
    }
    expect(t.upstream.requests).toHaveLength(status === 200 ? 2 : 0)
  })

  it('a route’s own timeout: 504 after its 1 s, not the default 5 s', async () => {
    const headers = await signedIn()
    t.upstream.handler = () => true // never answers
    const started = Date.now()
    const response = await rawRequest(t.broker.url, '/api/quick/slow', headers)
    const elapsed = Date.now() - started
    expect(response.status).toBe(504)
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(elapsed).toBeLessThan(3000)
  })

  it('a signed-in browser’s cookie never reaches a public upstream', async () => {
    const browser = new HttpBrowser()
    await t.signIn(browser)
    expect(browser.cookie(COOKIE)).toBeDefined()
    await rawRequest(t.broker.url, '/api/public/z', await signedIn())
    expect(seen()?.headers.cookie).toBeUndefined()
  })
})
