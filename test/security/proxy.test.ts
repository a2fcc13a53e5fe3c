import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { type IncomingMessage, request } from 'node:http'
import { describe, expect, it, vi } from 'vitest'
import { dropKeptAliveConnections, endlessAnswer } from '../support/echo-upstream.js'
import { rawExchange, rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { until } from '../support/until.js'

describe('API proxy trust boundary', () => {
  const t = useScriptedBroker({ upstreamTimeoutSeconds: 1 })

  async function session() {
    const { browser } = await t.signIn()
    return { browser, headers: { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' } }
  }

  it.each([
    '/api/echo/..%2f..%2fadmin',
    '/api/echo/%252e%252e/admin',
    '/api/echo/a%2fb',
    '/api/echo/a%5cb',
    '/api/echo//evil.example/x',
  ])('refuses the path escape %s before reaching the upstream', async (target) => {
    const { headers } = await session()
    const response = await rawRequest(t.broker.url, target, headers)
    expect(response.status).toBe(400)
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_path' })
    expect(t.upstream.requests).toHaveLength(0)
  })

  it.each(['/api/echo/../../auth/user', '/api/echo/%2e%2e/%2e%2e/admin', '/api/echo/..\\..\\auth'])(
    'never forwards %s outside the mount',
    async (target) => {
      const { headers } = await session()
      await rawRequest(t.broker.url, target, headers)
      expect(t.upstream.requests).toHaveLength(0)
    },
  )

  it('answers an unknown prefix with 404', async () => {
    const { headers } = await session()
    expect((await rawRequest(t.broker.url, '/api/nope/x', headers)).status).toBe(404)
  })

  it('answers without a session with 401 JSON, never a redirect', async () => {
    const response = await rawRequest(t.broker.url, '/api/echo/x', { 'x-csrf': '1' })
    expect(response.status).toBe(401)
    expect(response.headers.location).toBeUndefined()
    expect(JSON.parse(response.body)).toMatchObject({ error: 'unauthenticated' })
  })

  it('replaces client credentials and forwarding headers, and drops upstream cookies', async () => {
    const { headers } = await session()
    const response = await rawRequest(t.broker.url, '/api/echo/headers', {
      ...headers,
      authorization: 'Bearer attacker-token',
      'x-forwarded-host': 'evil.test',
      'x-forwarded-for': '6.6.6.6',
      'x-real-ip': '6.6.6.6',
      forwarded: 'for=6.6.6.6',
      connection: 'keep-alive, Authorization',
    })
    expect(response.status).toBe(200)
    expect(response.headers['set-cookie']).toBeUndefined()
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['x-frame-options']).toBe('DENY')
    expect(response.headers['cache-control']).toBe('no-store')
    const seen = t.upstream.requests[0]
    expect(seen?.headers.authorization).toMatch(/^Bearer /)
    expect(seen?.headers.authorization).not.toBe('Bearer attacker-token')
    expect(seen?.headers.cookie).toBeUndefined()
    expect(seen?.headers['x-csrf']).toBeUndefined()
    expect(seen?.headers['x-forwarded-host']).toBeUndefined()
    expect(seen?.headers['x-forwarded-for']).toBeUndefined()
    expect(seen?.headers['x-real-ip']).toBeUndefined()
    expect(seen?.headers.forwarded).toBeUndefined()
  })

  it.each([
    ['GET', 200, 2],
    ['POST', 502, 1],
  ] as const)(
    'a %s on a kept-alive socket the upstream just dropped: answer %i after %i upstream attempt(s)',
    async (method, status, attempts) => {
      const { browser } = await session()
      expect((await t.apiCall(browser, '/api/echo/warm')).status).toBe(200)
      // Connections opened from now on are fresh; the kept-alive one that served /warm is not.
      const restore = dropKeptAliveConnections(t.upstream)
      try {
        const init = method === 'POST' ? { method, body: 'x' } : {}
        const response = await t.apiCall(browser, '/api/echo/drop', init)
        expect(response.status).toBe(status)
        expect(t.upstream.requests.filter((r) => r.url === '/drop')).toHaveLength(attempts)
      } finally {
        restore()
      }
    },
  )

  it('a GET whose connection is reset every time is tried twice at most, then 502', async () => {
    const { browser } = await session()
    t.upstream.handler = (req) => {
      req.socket.destroy()
      return true
    }
    const response = await t.apiCall(browser, '/api/echo/always-reset')
    expect(response.status).toBe(502)
    expect(await response.json()).toMatchObject({ error: 'upstream_unavailable' })
    expect(t.upstream.requests.filter((r) => r.url === '/always-reset')).toHaveLength(2)
  })

  it('a GET sent again after its connection dropped has what is left of its deadline, not a new one', async () => {
    const { browser } = await session()
    // The first attempt's connection is dropped after 500 ms; the second is never answered.
    // With a new timeout for the second attempt the answer would take 1.5 s (timeout 1 s).
    let attempts = 0
    t.upstream.handler = (req) => {
      if (++attempts === 1) setTimeout(() => req.socket.destroy(), 500)
      return true
    }
    const startedAt = performance.now()
    const response = await t.apiCall(browser, '/api/echo/drop-late')
    const tookMs = performance.now() - startedAt
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({ error: 'upstream_timeout' })
    expect(attempts).toBe(2)
    expect(tookMs).toBeLessThan(1350)
  })

  it('forwards HEAD: the upstream sees HEAD, the answer has its headers and no body', async () => {
    const { browser } = await session()
    t.upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end()
      return true
    }
    // The answer must be written once: a second write is reported through console.error.
    const errors = vi.spyOn(console, 'error')
    const response = await t.apiCall(browser, '/api/echo/head', { method: 'HEAD' })
    await new Promise((resolve) => setImmediate(resolve))
    expect(errors).not.toHaveBeenCalled()
    errors.mockRestore()
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe('2')
    expect(await response.text()).toBe('')
    expect(t.upstream.requests.at(-1)).toMatchObject({ method: 'HEAD', url: '/head' })
  })

  it('refuses TRACE', async () => {
    const { headers } = await session()
    expect((await rawRequest(t.broker.url, '/api/echo/x', headers, 'TRACE')).status).toBe(405)
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('does not follow an upstream redirect to another host', async () => {
    const { browser } = await session()
    t.upstream.handler = (_req, res) => {
      res.writeHead(302, { location: 'http://evil.test/steal' }).end()
      return true
    }
    const response = await t.apiCall(browser, '/api/echo/redirect')
    expect(response.status).toBe(302)
    expect(t.upstream.requests).toHaveLength(1)
  })

  it('answers 504 when the upstream does not answer in time, and 502 when it is down', async () => {
    const { browser } = await session()
    t.upstream.handler = () => true // never answers
    const timedOut = await t.apiCall(browser, '/api/echo/slow')
    expect(timedOut.status).toBe(504)
    expect(await timedOut.json()).toMatchObject({ error: 'upstream_timeout' })
    const down = await t.apiCall(browser, '/api/down/x')
    expect(down.status).toBe(502)
    expect(await down.json()).toMatchObject({ error: 'upstream_unavailable' })
  })
})

describe('API proxy request framing and limits', () => {
  const t = useScriptedBroker({ maxBodyBytes: 2048 })

  async function session() {
    const { browser } = await t.signIn()
    return { browser, cookie: browser.cookieHeaderFor(t.broker.url) }
  }

  const host = () => new URL(t.broker.url).host

  it.each<[string, (cookie: string, host: string) => string]>([
    [
      'Content-Length with Transfer-Encoding',
      (cookie, h) =>
        `POST /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/echo/smuggled HTTP/1.1\r\nHost: ${h}\r\n\r\n`,
    ],
    [
      'two different Content-Lengths',
      (cookie, h) =>
        `POST /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nbody`,
    ],
    [
      'two equal Content-Lengths',
      (cookie, h) =>
        `POST /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nbody`,
    ],
    [
      'a Transfer-Encoding other than chunked',
      (cookie, h) =>
        `POST /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nTransfer-Encoding: gzip, identity\r\n\r\nbody`,
    ],
    [
      'an obfuscated Transfer-Encoding (chunked with a space before the colon)',
      (cookie, h) =>
        `POST /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'a bare CR inside a header value',
      (cookie, h) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nX-Note: a\rInjected: 1\r\n\r\n`,
    ],
    [
      'a bare LF inside a header value',
      (cookie, h) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nX-Note: a\nInjected: 1\r\n\r\n`,
    ],
    [
      'a NUL in a header value',
      (cookie, h) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nX-Note: a\u0000b\r\n\r\n`,
    ],
  ])('answers a request with %s 400 (Node’s parser) and forwards nothing', async (_name, build) => {
    const { cookie } = await session()
    const { status } = await rawExchange(t.broker.url, build(cookie, host()))
    expect(status).toBe(400)
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('answers a cookie header over 16 kB 431 before any store or provider call', async () => {
    const before = { ...t.provider.calls }
    const huge = `__Host-bff-session=${'a'.repeat(17 * 1024)}`
    const { status } = await rawExchange(
      t.broker.url,
      `GET /auth/user HTTP/1.1\r\nHost: ${host()}\r\nCookie: ${huge}\r\n\r\n`,
    )
    expect(status).toBe(431)
    expect(t.provider.calls).toEqual(before)
  })

  it('answers a declared body over MAX_BODY_BYTES 413 without reaching the upstream', async () => {
    const { browser } = await session()
    const response = await t.apiCall(browser, '/api/echo/upload', {
      method: 'POST',
      body: 'x'.repeat(4096),
    })
    expect(response.status).toBe(413)
    expect(await response.json()).toMatchObject({ error: 'payload_too_large' })
    expect(t.upstream.requests).toHaveLength(0)
  })

  it('answers a chunked body that grows past MAX_BODY_BYTES 413', async () => {
    const { cookie } = await session()
    const chunk = 'y'.repeat(1024)
    const chunks = Array.from({ length: 4 }, () => `400\r\n${chunk}\r\n`).join('')
    const { status, text } = await rawExchange(
      t.broker.url,
      `POST /api/echo/upload HTTP/1.1\r\nHost: ${host()}\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}0\r\n\r\n`,
    )
    expect(status).toBe(413)
    expect(text).toContain('payload_too_large')
    expect(t.upstream.requests.filter((r) => r.body.length > 2048)).toEqual([])
  })

  it('forwards a chunked body within the limit (control)', async () => {
    const { browser } = await session()
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('a'.repeat(1000)))
        controller.enqueue(new TextEncoder().encode('b'.repeat(1000)))
        controller.close()
      },
    })
    const response = await t.apiCall(browser, '/api/echo/upload', {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(200)
    expect(t.upstream.requests[0]?.body).toHaveLength(2000)
  })

  it('keeps the broker’s bearer when the client lists Authorization in Connection', async () => {
    const { cookie } = await session()
    const response = await rawRequest(t.broker.url, '/api/echo/x', {
      cookie,
      'x-csrf': '1',
      connection: 'close, Authorization',
      authorization: 'Bearer attacker',
    })
    expect(response.status).toBe(200)
    expect(t.upstream.requests[0]?.headers.authorization).toMatch(/^Bearer (?!attacker)/)
  })

  it('strips hop-by-hop headers both ways, including those the Connection header names', async () => {
    const { cookie } = await session()
    t.upstream.handler = (_req, res) => {
      res.writeHead(200, {
        connection: 'x-upstream-hop',
        'x-upstream-hop': 'secret',
        'proxy-authenticate': 'Basic',
        'content-type': 'application/json',
      })
      res.end('{}')
      return true
    }
    const response = await rawRequest(t.broker.url, '/api/echo/x', {
      cookie,
      'x-csrf': '1',
      connection: 'x-client-hop',
      'x-client-hop': 'secret',
      te: 'trailers',
      'proxy-authorization': 'Basic eDp5',
      upgrade: 'websocket',
    })
    expect(response.status).toBe(200)
    const seen = t.upstream.requests[0]?.headers ?? {}
    for (const name of ['x-client-hop', 'te', 'proxy-authorization', 'upgrade']) {
      expect(seen[name]).toBeUndefined()
    }
    expect(response.headers['x-upstream-hop']).toBeUndefined()
    expect(response.headers['proxy-authenticate']).toBeUndefined()
  })

  it.each([
    ['an absolute-form target naming another host', 'http://evil.example/api/echo/x'],
    ['an @ in the path', '/api/echo/@evil.example/x'],
  ])('keeps the upstream host for %s', async (_name, target) => {
    const { cookie } = await session()
    await rawRequest(t.broker.url, target, { cookie, 'x-csrf': '1' })
    for (const seen of t.upstream.requests) {
      expect(seen.headers.host).toBe(new URL(t.upstream.url).host)
    }
  })

  it.each([401, 403])(
    'keeps an upstream %i as it is, with no redirect and the session intact',
    async (status) => {
      const { browser } = await session()
      t.upstream.handler = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":"nope"}')
        return true
      }
      const response = await t.apiCall(browser, '/api/echo/x')
      expect(response.status).toBe(status)
      expect(response.headers.get('location')).toBeNull()
      expect(response.headers.getSetCookie()).toEqual([])
      delete t.upstream.handler
      expect((await t.apiCall(browser, '/auth/user')).status).toBe(200)
    },
  )

  it('never tunnels CONNECT: Node closes the connection unanswered and nothing is forwarded', async () => {
    const { cookie } = await session()
    const { status } = await rawExchange(
      t.broker.url,
      `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nCookie: ${cookie}\r\nX-CSRF: 1\r\n\r\n`,
    )
    // No 'connect' listener on the server: Node destroys the socket (NaN: no status line).
    expect(Number.isNaN(status) || status === 400 || status === 405).toBe(true)
    expect(t.upstream.requests).toHaveLength(0)
  })
})

describe('streamed answers', () => {
  const t = useScriptedBroker()

  /** Headers of a signed-in session, warmed so that its next GETs take the /api lane. */
  async function warmHeaders() {
    const { browser } = await t.signIn()
    const headers = { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' }
    for (let i = 0; i < 2; i++)
      expect((await rawRequest(t.broker.url, '/api/echo/w', headers)).status).toBe(200)
    return headers
  }

  function get(path: string, headers: Record<string, string>): Promise<IncomingMessage> {
    const url = new URL(t.broker.url)
    return new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path, headers }, resolve)
      req.on('error', reject)
      req.end()
    })
  }

  it('holds the upstream back while the browser reads slowly, and delivers every byte', async () => {
    const headers = await warmHeaders()
    const chunk = randomBytes(64 * 1024)
    const chunks = 512 // 32 MiB: about four times what the sockets on both sides held here
    const sent = createHash('sha256')
    let written = 0
    t.upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const more = () => {
        while (written < chunks) {
          sent.update(chunk)
          written++
          if (!res.write(chunk)) return void res.once('drain', more)
        }
        res.end()
      }
      more()
      return true
    }
    const answer = await get('/api/echo/big', headers)
    expect(answer.statusCode).toBe(200)
    answer.pause()
    // The browser reads nothing. Once the socket buffers are full the broker stops reading
    // the upstream, so the upstream stalls far short of the end (a broker that kept reading
    // would hold the whole answer in memory, and the upstream would finish).
    let seen = -1
    await until(async () => {
      const settled = written === seen
      seen = written
      await new Promise((resolve) => setTimeout(resolve, 200))
      return settled
    }, 'the upstream to stall')
    expect(written).toBeLessThan(chunks)
    const received = createHash('sha256')
    let length = 0
    answer.on('data', (data: Buffer) => {
      received.update(data)
      length += data.length
    })
    answer.resume()
    await once(answer, 'end')
    expect(length).toBe(chunk.length * chunks)
    expect(received.digest('hex')).toBe(sent.digest('hex'))
  })

  it('stops the upstream request when the browser goes away in the middle of the answer', async () => {
    const headers = await warmHeaders()
    let upstreamClosed = false
    t.upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: first\n\n') // and never ends
      res.on('close', () => {
        upstreamClosed = true
      })
      return true
    }
    const answer = await get('/api/echo/events', headers)
    const [first] = (await once(answer, 'data')) as [Buffer]
    expect(first.toString()).toContain('data: first')
    answer.destroy()
    await until(() => upstreamClosed, 'the upstream request to be closed', 2000)
  })
})

describe('a browser that stops reading an answer', () => {
  const t = useScriptedBroker({ responseStallTimeoutSeconds: 1 })

  it('is disconnected after RESPONSE_STALL_TIMEOUT_SECONDS and the upstream request ended', async () => {
    const { browser } = await t.signIn()
    const headers = { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' }
    let upstreamClosedAt = 0
    t.upstream.handler = (_req, res) => {
      endlessAnswer(res, () => {
        upstreamClosedAt = Date.now()
      })
      return true
    }
    const url = new URL(t.broker.url)
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: '/api/echo/endless', headers },
        resolve,
      )
      req.on('error', reject)
      req.end()
    })
    expect(answer.statusCode).toBe(200)
    answer.pause()
    const pausedAt = Date.now()
    await until(() => upstreamClosedAt > 0, 'the upstream request to be ended', 5000)
    // The endless answer, read again now, ends short: the broker closed the connection.
    const closed = new Promise<void>((resolve) => answer.once('close', resolve))
    answer.on('error', () => {})
    answer.resume()
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('still streaming')), 3000)),
    ])
    expect(answer.complete).toBe(false)
    console.log(
      `stalled reader: upstream ended ${upstreamClosedAt - pausedAt} ms after the browser stopped reading (timeout 1000 ms)`,
    )
    expect(upstreamClosedAt - pausedAt).toBeLessThan(4000)
  })
})
