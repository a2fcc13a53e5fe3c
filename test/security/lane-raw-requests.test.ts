import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { honoOnly, laneCount, warmLaneSession } from '../support/api-lane.js'
import { changeFeedLive } from '../support/broker.js'
import { type RawAnswer, rawExchange } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/*
 * Requests written byte for byte that a browser would not send (repeated header lines, odd
 * spellings of the cookie, other request forms): the /api lane (bff.nodeListener()) and the
 * Hono route alone answer each the same, and the lane takes only those it reads exactly as the
 * route does.
 */

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
      expect(t.upstream.requests).toHaveLength(2)
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
