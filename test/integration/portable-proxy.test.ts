import { describe, expect, it } from 'vitest'
import { dropKeptAliveConnections } from '../support/echo-upstream.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/*
 * The proxy's portable path: outside @hono/node-server (here `app.request`, no socket) the
 * broker forwards through fetch Request/Response objects. Same rules as the node fast path.
 */
describe('the portable proxy path (no node bindings)', () => {
  const t = useScriptedBroker()

  async function sessionCookie() {
    const { browser } = await t.signIn()
    return browser.cookieHeaderFor(t.broker.url)
  }

  const call = (cookie: string, path: string, init: RequestInit = {}) =>
    t.broker.bff.app.request(path, {
      ...init,
      headers: { cookie, 'x-csrf': '1', ...(init.headers as object) },
    })

  it('forwards with the bearer and without browser credentials, and answers with security headers', async () => {
    const cookie = await sessionCookie()
    const response = await call(cookie, '/api/echo/portable?x=1')
    expect(response.status).toBe(200)
    const seen = t.upstream.requests.at(-1)
    expect(seen?.url).toBe('/portable?x=1')
    expect(seen?.headers.authorization).toMatch(/^Bearer /)
    expect(seen?.headers.cookie).toBeUndefined()
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it('streams a request body to the upstream', async () => {
    const cookie = await sessionCookie()
    const payload = 'y'.repeat(50_000)
    const response = await call(cookie, '/api/echo/body', { method: 'POST', body: payload })
    expect(response.status).toBe(200)
    expect(t.upstream.requests.at(-1)?.body).toBe(payload)
  })

  it('retries a GET once on a kept-alive socket the upstream just dropped', async () => {
    const cookie = await sessionCookie()
    const warm = await call(cookie, '/api/echo/warm')
    expect(warm.status).toBe(200)
    // Read to the end and let the agent take the socket back, so /drop goes out on it.
    await warm.text()
    await new Promise((resolve) => setImmediate(resolve))
    // Connections opened from now on are fresh; the kept-alive one that served /warm is not.
    const restore = dropKeptAliveConnections(t.upstream)
    try {
      expect((await call(cookie, '/api/echo/drop')).status).toBe(200)
      expect(t.upstream.requests.filter((r) => r.url === '/drop')).toHaveLength(2)
    } finally {
      restore()
    }
  })
})
