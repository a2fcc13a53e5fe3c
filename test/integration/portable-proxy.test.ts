import type { ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { dropKeptAliveConnections, endlessAnswer } from '../support/echo-upstream.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { until } from '../support/until.js'

/*
 * The proxy's portable path: outside @hono/node-server (here `app.request`, no socket) the
 * broker forwards through fetch Request/Response objects. Same rules as the node fast path.
 */
describe('the portable proxy path (no node bindings)', () => {
  const t = useScriptedBroker({
    apiMaxInFlightPerSession: 2,
    requestBodyTimeoutSeconds: 1,
    responseStallTimeoutSeconds: 1,
  })

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

  it('forwards a request body whole, and streams it on a stream route', async () => {
    const cookie = await sessionCookie()
    const payload = 'y'.repeat(50_000)
    const whole = await call(cookie, '/api/echo/body', { method: 'POST', body: payload })
    expect(whole.status).toBe(200)
    expect(t.upstream.requests.at(-1)?.body).toBe(payload)
    expect(t.upstream.requests.at(-1)?.headers['content-length']).toBe('50000')
    // A stream of unknown length goes on as it arrives, chunked.
    const streamed = await call(cookie, '/api/echo-stream/body', {
      method: 'POST',
      body: new Blob([payload]).stream(),
      duplex: 'half',
    } as RequestInit)
    expect(streamed.status).toBe(200)
    expect(t.upstream.requests.at(-1)?.body).toBe(payload)
    expect(t.upstream.requests.at(-1)?.headers['transfer-encoding']).toBe('chunked')
  })

  it('answers 408 when the body does not arrive within the deadline, with nothing forwarded', async () => {
    const cookie = await sessionCookie()
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('partial'))
      },
    })
    const response = await call(cookie, '/api/echo/stalled', {
      method: 'POST',
      body: stalled,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(408)
    expect(await response.json()).toMatchObject({ error: 'request_timeout' })
    expect(t.upstream.requests.filter((r) => r.url === '/stalled')).toHaveLength(0)
  })

  it('holds a session’s slot while the answer streams, and gives it back at its end or cancel', async () => {
    const cookie = await sessionCookie()
    const held: ServerResponse[] = []
    t.upstream.handler = (req, res) => {
      if (!req.url?.startsWith('/held')) return false
      res.writeHead(200, { 'content-type': 'text/plain' }).write('partial')
      held.push(res)
      return true
    }
    const first = await call(cookie, '/api/echo/held-1')
    const second = await call(cookie, '/api/echo/held-2')
    expect([first.status, second.status]).toEqual([200, 200])
    const third = await call(cookie, '/api/echo/three')
    expect(third.status).toBe(429)
    expect(third.headers.get('retry-after')).toBe('1')
    ;(held[0] as ServerResponse).end(' and the rest')
    expect(await first.text()).toBe('partial and the rest')
    await second.body?.cancel()
    expect((await call(cookie, '/api/echo/four')).status).toBe(200)
    expect((await call(cookie, '/api/echo/five')).status).toBe(200)
  })

  it('ends an answer nobody reads after the stall timeout, and gives the slot back', async () => {
    const cookie = await sessionCookie()
    let upstreamClosed = false
    t.upstream.handler = (req, res) => {
      if (req.url !== '/endless') return false
      endlessAnswer(res, () => {
        upstreamClosed = true
      })
      return true
    }
    const unread = [
      await call(cookie, '/api/echo/endless'),
      await call(cookie, '/api/echo/endless'),
    ]
    expect(unread.map((r) => r.status)).toEqual([200, 200])
    await until(() => upstreamClosed, 'the upstream answer to be ended', 5000)
    await until(async () => (await call(cookie, '/api/echo/again')).status === 200, 'a free slot')
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
