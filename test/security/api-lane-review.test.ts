import type { IncomingMessage, ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { honoOnly, laneCount, warmLaneSession } from '../support/api-lane.js'
import { changeFeedLive } from '../support/broker.js'
import { type RawAnswer, rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { until } from '../support/until.js'

/*
 * From a review of the /api lane (src/routes/api-lane.ts) and its forwarding (forwardNode,
 * exchangeInto); the first two groups failed before their fixes:
 * - forwardNode watched for the browser leaving with `outgoing.once('close')`, added when the
 *   forward starts. On the Hono route the forward starts after awaits (a cold session read,
 *   a refresh, an exact rate-limit check); a browser that left during them had already fired
 *   'close', so nothing cancelled the exchange: the first body chunk's `outgoing.write`
 *   returned false (the response is destroyed), the upstream was paused and never resumed or
 *   aborted, and its pooled connection was held for ever (bodyTimeout 0). 256 of them stalled
 *   the pool. Now such a browser is not forwarded at all, and an exchange whose browser is
 *   gone is aborted.
 * - A request queued behind a full pool never got its 504: the deadline only aborted an
 *   exchange undici had started (the controller arrives in onRequestStart).
 * The rest are raw-request rows where the lane and the route agree (regression cover).
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Sends one raw request and closes the connection `afterMs` later, unread. */
async function sendAndLeave(base: string, request: string, afterMs: number): Promise<void> {
  const { port } = new URL(base)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  socket.write(request)
  await sleep(afterMs)
  socket.destroy()
}

describe('a browser that leaves before the route forwards', () => {
  let offset = 0
  let providerDelayMs = 0
  const t = useScriptedBroker(
    {
      sessionIdleTimeoutSeconds: 36_000,
      sessionAbsoluteTimeoutSeconds: 72_000,
      sessionCacheSeconds: 300,
      rateLimitApi: null,
      upstreamTimeoutSeconds: 1,
      // Pooled connections are the subject here: on a loaded machine a few 504s in a row would
      // open the upstream's circuit (tested in integration/circuit-breakers.test.ts).
      upstreamCircuitFailures: 0,
    },
    {
      clock: { now: () => Date.now() + offset },
      providerFetch: async (url, options) => {
        if (providerDelayMs) await sleep(providerDelayMs)
        return fetch(url, options as RequestInit)
      },
    },
  )

  /** A signed-in session's cookie after one proxied call (cookie unsealed, session cached). */
  async function signedInWithOneCall(): Promise<string> {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url) ?? ''
    expect((await rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })).status).toBe(
      200,
    )
    return cookie
  }

  it('does not leave the upstream exchange open when the browser left during a slow refresh', async () => {
    await changeFeedLive(t.broker)
    const cookie = await signedInWithOneCall()

    // A streamed upstream answer (server-sent events, say): a chunk every 20 ms for 10 s.
    const upstreamClosed: number[] = []
    let upstreamStarted = 0
    t.upstream.handler = (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith('/stream')) return false
      upstreamStarted = Date.now()
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const timer = setInterval(() => res.write(`data: ${'x'.repeat(1000)}\n\n`), 20)
      setTimeout(() => {
        clearInterval(timer)
        res.end()
      }, 10_000)
      res.on('close', () => {
        clearInterval(timer)
        upstreamClosed.push(Date.now())
      })
      return true
    }
    // The token is due: the route (not the lane) refreshes, and the provider takes 500 ms.
    offset = 250_000
    providerDelayMs = 500
    await sendAndLeave(
      t.broker.url,
      `GET /api/echo/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n\r\n`,
      100,
    )
    // The refresh completes (the session keeps its new tokens), but the browser that asked
    // is gone by then: nothing is forwarded for it.
    await until(
      () => t.provider.tokenRequests.some((r) => r.grantType === 'refresh_token'),
      'the refresh',
      5000,
    )
    await sleep(1000)
    expect({ upstreamStarted, upstreamClosed }).toEqual({ upstreamStarted: 0, upstreamClosed: [] })
    providerDelayMs = 0
    expect((await rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })).status).toBe(
      200,
    )
  })

  it('does not leave the upstream exchange open when the browser left during a cold session read', async () => {
    offset = 0
    providerDelayMs = 0
    let started = 0
    let closed = 0
    t.upstream.handler = (_req: IncomingMessage, res: ServerResponse) => {
      started++
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const timer = setInterval(() => res.write('data: x\n\n'), 20)
      res.on('close', () => {
        clearInterval(timer)
        closed++
      })
      return true
    }
    // A cookie this process never unsealed: the route unseals it and reads the session from
    // Redis (a few ms); the browser is gone by then, before the forward starts.
    for (let i = 0; i < 5; i++) {
      const { browser } = await t.signIn()
      const cookie = browser.cookieHeaderFor(t.broker.url) ?? ''
      await sendAndLeave(
        t.broker.url,
        `GET /api/echo/s HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n\r\n`,
        0,
      )
    }
    await sleep(1500)
    expect({ started, stillOpen: started - closed }).toEqual({ started, stillOpen: 0 })
  })

  it('control: a browser that leaves after the forward started stops the upstream', async () => {
    offset = 0
    providerDelayMs = 0
    const cookie = await signedInWithOneCall()
    const upstreamClosed: number[] = []
    let upstreamStarted = 0
    t.upstream.handler = (_req: IncomingMessage, res: ServerResponse) => {
      upstreamStarted = Date.now()
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const timer = setInterval(() => res.write(`data: ${'x'.repeat(1000)}\n\n`), 20)
      res.on('close', () => {
        clearInterval(timer)
        upstreamClosed.push(Date.now())
      })
      return true
    }
    await sendAndLeave(
      t.broker.url,
      `GET /api/echo/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n\r\n`,
      200,
    )
    await until(() => upstreamStarted > 0, 'the upstream request', 5000)
    await until(() => upstreamClosed.length === 1, 'the upstream closed', 2000)
  })

  it('keeps answering after 260 browsers left during a slow refresh (no pooled connection leaked)', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url) ?? ''
    offset = 0
    providerDelayMs = 0
    expect((await rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })).status).toBe(
      200,
    )
    // Plain small JSON answers from the echo upstream; the token is due, the refresh slow.
    offset = 500_000
    providerDelayMs = 500
    const request = `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n\r\n`
    await Promise.all(Array.from({ length: 260 }, () => sendAndLeave(t.broker.url, request, 100)))
    await sleep(1500)
    providerDelayMs = 0
    const before = t.upstream.requests.length
    // upstreamTimeoutSeconds is 1 here: any answer should come within ~1 s (200, or 504).
    const answer = await Promise.race([
      rawRequest(t.broker.url, '/api/echo/after', { cookie, 'x-csrf': '1' }),
      sleep(5000).then(() => null),
    ])
    // Before the fix none of them was ever ended or aborted: this request waited for a free
    // connection past the 1 s upstream timeout (no 504 either), for ever.
    expect({
      answer: answer?.status ?? 'no answer in 5 s',
      reachedUpstream: t.upstream.requests.length - before,
    }).toEqual({ answer: 200, reachedUpstream: 1 })
  })
})

describe('pipelined requests', () => {
  const t = useScriptedBroker({ rateLimitApi: null })

  it('answers a large answer queued behind a slow one on the same connection', async () => {
    await changeFeedLive(t.broker)
    const { cookie } = await warmLaneSession(t)
    const big = 'y'.repeat(4 * 1024 * 1024)
    t.upstream.handler = (req, res) => {
      if (req.url === '/slow') {
        setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow'), 300)
        return true
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(big)
        return true
      }
      return false
    }
    const { port } = new URL(t.broker.url)
    const socket = connect(Number(port), '127.0.0.1')
    const head = `Host: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n`
    socket.write(
      `GET /api/echo/slow HTTP/1.1\r\n${head}\r\nGET /api/echo/big HTTP/1.1\r\n${head}Connection: close\r\n\r\n`,
    )
    let received = 0
    const done = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length
      })
      socket.on('close', () => resolve())
    })
    await Promise.race([done, sleep(5000)])
    socket.destroy()
    expect(received).toBeGreaterThan(big.length)
  })
})

describe('a full upstream pool', () => {
  // One session fills the pool here, so its cap on requests in progress is lifted.
  const t = useScriptedBroker({
    rateLimitApi: null,
    apiMaxInFlightPerSession: 1000,
    upstreamTimeoutSeconds: 1,
  })

  it('answers 504 within the upstream timeout when every pooled connection is busy', async () => {
    await changeFeedLive(t.broker)
    const { cookie } = await warmLaneSession(t)
    // 256 live browsers on a long stream (server-sent events): the pool's 256 connections.
    const streams: ServerResponse[] = []
    t.upstream.handler = (req, res) => {
      if (req.url !== '/events') return false
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': open\n\n')
      streams.push(res)
      return true
    }
    const { port } = new URL(t.broker.url)
    const sockets = Array.from({ length: 256 }, () => {
      const socket = connect(Number(port), '127.0.0.1')
      socket.on('error', () => {})
      socket.resume()
      socket.write(
        `GET /api/echo/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n\r\n`,
      )
      return socket
    })
    try {
      await until(() => streams.length === 256, '256 open streams', 10_000)
      const started = Date.now()
      const answer = await Promise.race([
        rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' }),
        sleep(5000).then(() => null),
      ])
      expect({ status: answer?.status ?? 'no answer in 5 s' }).toEqual({ status: 504 })
      expect(Date.now() - started).toBeLessThan(3000)
      // HEAD takes the portable path (undici's request() with its abort signal): the same.
      const headStarted = Date.now()
      const head = await Promise.race([
        rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' }, 'HEAD'),
        sleep(5000).then(() => null),
      ])
      expect({ status: head?.status ?? 'no answer in 5 s' }).toEqual({ status: 504 })
      expect(Date.now() - headStarted).toBeLessThan(3000)
    } finally {
      for (const socket of sockets) socket.destroy()
      for (const res of streams) res.end()
    }
  })
})

/** One request written byte for byte; the answer's status, headers and body once the server closes. */
async function rawExchange(base: string, bytes: string): Promise<RawAnswer> {
  const { port } = new URL(base)
  const socket = connect(Number(port), '127.0.0.1')
  socket.write(bytes)
  let text = ''
  for await (const chunk of socket) text += chunk
  const [head = '', ...rest] = text.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}

describe('raw requests the lane and the route read alike', () => {
  const t = useScriptedBroker({ rateLimitApi: null })
  let hono: Awaited<ReturnType<typeof honoOnly>>
  beforeAll(async () => {
    hono = await honoOnly(t.broker)
    await changeFeedLive(t.broker)
  })
  afterAll(() => hono.close())

  const laneServed = () => laneCount(t.broker)

  async function warmCookie(): Promise<string> {
    return (await warmLaneSession(t)).cookie
  }

  const errorOf = (answer: RawAnswer) => {
    try {
      return (JSON.parse(answer.body) as { error?: string }).error
    } catch {
      return undefined
    }
  }

  it.each<{
    name: string
    request: (cookie: string) => string
    status: number
    laneTakes: boolean
    upstreamPath?: string
  }>([
    {
      name: 'two Cookie header lines, the session in the second',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: other=1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 200,
      laneTakes: true,
    },
    {
      name: 'the session cookie twice, a tampered copy first',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c.replace('=Fe26.2*', '=Fe26.2*9')}; ${c}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 401,
      laneTakes: false,
    },
    {
      // Another spelling of the seal (the broker never sets a quoted value): refused by both.
      name: 'the session cookie quoted, after 12 KB of other cookies',
      request: (c) => {
        const [name, ...value] = c.split('=')
        return `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: pad=${'p'.repeat(12_000)}; ${name}="${value.join('=')}"\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`
      },
      status: 401,
      laneTakes: false,
    },
    {
      name: 'the session cookie after 12 KB of other cookies',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: pad=${'p'.repeat(12_000)}; ${c}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 200,
      laneTakes: true,
    },
    {
      name: 'the session cookie percent-encoded',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c.replaceAll('*', '%2A')}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 401,
      laneTakes: false,
    },
    {
      name: 'an empty CSRF header line and a second one',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf:\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 200,
      laneTakes: true,
    },
    {
      name: 'only an empty CSRF header (whitespace)',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: \t \r\nConnection: close\r\n\r\n`,
      status: 403,
      laneTakes: false,
    },
    {
      name: 'Sec-Fetch-Site twice (same-origin, cross-site)',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n`,
      status: 403,
      laneTakes: false,
    },
    {
      name: 'Sec-Fetch-Site in another case (Same-Origin)',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nsec-fetch-SITE: Same-Origin\r\nConnection: close\r\n\r\n`,
      status: 403,
      laneTakes: false,
    },
    {
      name: 'two Host lines, a foreign one second',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nCookie: ${c}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 200,
      laneTakes: true,
      upstreamPath: '/x',
    },
    {
      name: 'HTTP/1.0 with Host',
      request: (c) =>
        `GET /api/echo/x?a=1 HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\n\r\n`,
      status: 200,
      laneTakes: true,
      upstreamPath: '/x?a=1',
    },
    {
      name: 'an absolute-form target naming another host',
      request: (c) =>
        `GET http://evil.example/api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 200,
      laneTakes: false,
      upstreamPath: '/x',
    },
    {
      name: 'Connection naming the CSRF header and Cookie as hop-by-hop',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nConnection: close, x-csrf, cookie\r\n\r\n`,
      status: 200,
      laneTakes: true,
    },
    {
      // Node hands it to the upgrade listener (both servers have it): no Origin, refused.
      name: 'a WebSocket upgrade',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      status: 403,
      laneTakes: false,
    },
    {
      name: 'a chunked GET with an empty body',
      request: (c) =>
        `GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
      status: 200,
      laneTakes: false,
    },
    {
      name: 'OPTIONS with the CSRF header',
      request: (c) =>
        `OPTIONS /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 200,
      laneTakes: false,
    },
    {
      name: 'a query with ?, / and an invalid escape',
      request: (c) =>
        `GET /api/echo/x?a=/b?c=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${c}\r\nX-Csrf: 1\r\nConnection: close\r\n\r\n`,
      status: 200,
      laneTakes: true,
      upstreamPath: '/x?a=/b?c=%zz',
    },
  ])('$name: the route answers $status, the lane takes it: $laneTakes', async (row) => {
    const cookie = await warmCookie()
    t.upstream.requests.length = 0
    const before = await laneServed()
    const lane = await rawExchange(t.broker.url, row.request(cookie))
    const laneTook = (await laneServed()) > before
    const route = await rawExchange(hono.url, row.request(cookie))
    expect({ laneTook, lane: lane.status, route: route.status }).toEqual({
      laneTook: row.laneTakes,
      lane: row.status,
      route: row.status,
    })
    expect(errorOf(lane)).toBe(errorOf(route))
    if (row.status === 200) {
      const [viaLane, viaRoute] = t.upstream.requests
      expect(viaLane?.url).toBe(viaRoute?.url)
      if (row.upstreamPath) expect(viaLane?.url).toBe(row.upstreamPath)
      const { 'x-request-id': _a, ...laneHeaders } = viaLane?.headers ?? {}
      const { 'x-request-id': _b, ...routeHeaders } = viaRoute?.headers ?? {}
      expect(laneHeaders).toEqual(routeHeaders)
      expect(viaLane?.headers.cookie).toBeUndefined()
      expect(viaLane?.headers['x-csrf']).toBeUndefined()
    }
  })
})
