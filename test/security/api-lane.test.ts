import type { IncomingHttpHeaders } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPlainApiTarget } from '../../src/routes/api-lane.js'
import { honoOnly, laneCount, warmLaneSession } from '../support/api-lane.js'
import { changeFeedLive, type TestBroker } from '../support/broker.js'
import { type RawAnswer, rawExchange, rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/*
 * The node-level /api lane (src/routes/api-lane.ts) serves warm requests without Hono. Its
 * promise: it takes a request only when the Hono route would let it through, and then
 * answers exactly as the route would. Every test here sends the same request to the broker's
 * node listener (lane in front) and to the same broker served by Hono alone, and checks
 * whether the lane took it (its counter) and that both answers agree.
 */

/** Headers that differ between any two answers (time, per-request id, echoed Host length). */
const VARYING = new Set(['date', 'x-request-id', 'content-length', 'connection', 'keep-alive'])

function comparable(headers: IncomingHttpHeaders) {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !VARYING.has(name)))
}

function errorCode(answer: RawAnswer): string | undefined {
  try {
    return (JSON.parse(answer.body) as { error?: string }).error
  } catch {
    return undefined
  }
}

/** The cookie header with one character of the sealed session value changed (HMAC fails). */
function tampered(cookie: string): string {
  const at = cookie.indexOf('*', cookie.indexOf('Fe26.2')) + 12
  return `${cookie.slice(0, at)}${cookie[at] === 'A' ? 'B' : 'A'}${cookie.slice(at + 1)}`
}

describe('the /api lane is never looser than the route', () => {
  const t = useScriptedBroker({ upstreamTimeoutSeconds: 1, maxBodyBytes: 1024 })
  let hono: Awaited<ReturnType<typeof honoOnly>>
  beforeAll(async () => {
    hono = await honoOnly(t.broker)
    await changeFeedLive(t.broker)
  })
  afterAll(() => hono.close())

  const warmSession = () => warmLaneSession(t)

  /** Sends one request through the lane and through Hono alone; says whether the lane took it. */
  async function both(
    target: string,
    headers: Record<string, string>,
    method = 'GET',
    body?: string,
  ): Promise<{ lane: RawAnswer; route: RawAnswer; laneTook: boolean }> {
    const before = await laneCount(t.broker)
    const lane = await rawRequest(t.broker.url, target, headers, method, body)
    const laneTook = (await laneCount(t.broker)) > before
    const route = await rawRequest(hono.url, target, headers, method, body)
    return { lane, route, laneTook }
  }

  const SELF = () => t.broker.url

  // Each row: a request the lane must hand to the route, and the route's answer.
  it.each<{
    name: string
    target?: string
    method?: string
    body?: string
    headers: (cookie: string) => Record<string, string>
    status: number
    error?: string
  }>([
    {
      name: 'no CSRF header',
      headers: (cookie) => ({ cookie }),
      status: 403,
      error: 'csrf_failed',
    },
    {
      name: 'Sec-Fetch-Site: cross-site',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', 'sec-fetch-site': 'cross-site' }),
      status: 403,
      error: 'csrf_failed',
    },
    {
      name: 'Sec-Fetch-Site: same-site (a sibling subdomain)',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', 'sec-fetch-site': 'same-site' }),
      status: 403,
      error: 'csrf_failed',
    },
    {
      name: 'a foreign Origin',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', origin: 'http://evil.test' }),
      status: 403,
      error: 'csrf_failed',
    },
    {
      name: 'Origin: null without Sec-Fetch-Site',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', origin: 'null' }),
      status: 403,
      error: 'csrf_failed',
    },
    {
      name: 'no cookie',
      headers: () => ({ 'x-csrf': '1' }),
      status: 401,
      error: 'unauthenticated',
    },
    {
      name: 'a tampered cookie',
      headers: (cookie) => ({ cookie: tampered(cookie), 'x-csrf': '1' }),
      status: 401,
      error: 'unauthenticated',
    },
    {
      name: 'an unknown prefix',
      target: '/api/nope/x',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 404,
      error: 'not_found',
    },
    {
      name: 'an encoded dot segment and slash',
      target: '/api/echo/a/%2e%2e%2fb',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 400,
      error: 'invalid_path',
    },
    {
      // The node adapter resolves them before routing: this is a request for /auth/user.
      name: 'encoded dot segments the node adapter resolves',
      target: '/api/echo/%2e%2e/%2e%2e/auth/user',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 200,
    },
    {
      name: 'an empty segment',
      target: '/api/echo//evil.example/x',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 400,
      error: 'invalid_path',
    },
    {
      name: 'an encoded slash',
      target: '/api/echo/a%2fb',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 400,
      error: 'invalid_path',
    },
    {
      name: 'dot segments the URL parser resolves',
      target: '/api/echo/../echo/x',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 200,
    },
    {
      name: 'a quote the URL parser encodes in the query',
      target: "/api/echo/x?q='1'",
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 200,
    },
    {
      name: 'TRACE',
      method: 'TRACE',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 405,
      error: 'method_not_allowed',
    },
    { name: 'HEAD', method: 'HEAD', headers: (cookie) => ({ cookie, 'x-csrf': '1' }), status: 200 },
    {
      name: 'POST with a body',
      method: 'POST',
      body: '{"a":1}',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', 'content-type': 'application/json' }),
      status: 200,
    },
    {
      name: 'DELETE',
      method: 'DELETE',
      headers: (cookie) => ({ cookie, 'x-csrf': '1' }),
      status: 200,
    },
    {
      name: 'GET with a body',
      body: 'x'.repeat(10),
      headers: (cookie) => ({ cookie, 'x-csrf': '1', 'content-length': '10' }),
      status: 200,
    },
    {
      name: 'GET with a body over MAX_BODY_BYTES',
      body: 'x'.repeat(2000),
      headers: (cookie) => ({ cookie, 'x-csrf': '1', 'content-length': '2000' }),
      status: 413,
      error: 'payload_too_large',
    },
    {
      name: 'an X-Request-Id from an untrusted client',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', 'x-request-id': 'forged-id' }),
      status: 200,
    },
    {
      name: 'a Host the node adapter checks first',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', host: 'App.Test:80' }),
      status: 200,
    },
  ])('hands $name to the route, which answers $status', async (row) => {
    const { cookie } = await warmSession()
    const target = row.target ?? '/api/echo/x'
    const { lane, route, laneTook } = await both(target, row.headers(cookie), row.method, row.body)
    expect(laneTook).toBe(false)
    expect(lane.status).toBe(row.status)
    expect(route.status).toBe(row.status)
    expect(errorCode(lane)).toBe(row.error ?? errorCode(route))
    expect(errorCode(route)).toBe(row.error ?? errorCode(lane))
    if (row.error) expect(comparable(lane.headers)).toEqual(comparable(route.headers))
  })

  it.each<{ name: string; headers: (cookie: string) => Record<string, string> }>([
    { name: 'the CSRF header alone', headers: (cookie) => ({ cookie, 'x-csrf': '1' }) },
    {
      name: 'Sec-Fetch-Site: same-origin',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', 'sec-fetch-site': 'same-origin' }),
    },
    {
      name: 'its own Origin',
      headers: (cookie) => ({ cookie, 'x-csrf': '1', origin: SELF() }),
    },
    {
      name: 'Origin: null vouched for by Sec-Fetch-Site: same-origin',
      headers: (cookie) => ({
        cookie,
        'x-csrf': '1',
        origin: 'null',
        'sec-fetch-site': 'same-origin',
      }),
    },
  ])('takes a warm GET with $name and answers as the route does', async (row) => {
    const { cookie } = await warmSession()
    t.upstream.requests.length = 0
    const { lane, route, laneTook } = await both(
      '/api/echo/items?page=2&sort=a%20b',
      row.headers(cookie),
    )
    expect(laneTook).toBe(true)
    expect(lane.status).toBe(200)
    expect(comparable(lane.headers)).toEqual(comparable(route.headers))
    // The upstream saw the same request both times, bearer included; only the request id differs.
    const [viaLane, viaRoute] = t.upstream.requests
    expect(viaLane?.url).toBe('/items?page=2&sort=a%20b')
    expect(viaLane?.headers.authorization).toMatch(/^Bearer \S+/)
    expect(comparable(viaLane?.headers ?? {})).toEqual(comparable(viaRoute?.headers ?? {}))
    expect(viaLane?.headers.cookie).toBeUndefined()
    expect(lane.headers['x-request-id']).toBe(viaLane?.headers['x-request-id'])
  })

  it('answers an unreachable upstream with the route’s JSON 502, request id and headers', async () => {
    const { cookie } = await warmSession()
    // Warm the lane for this route too: its first request learns nothing new, but proves the path.
    const { lane, route, laneTook } = await both('/api/down/x', { cookie, 'x-csrf': '1' })
    expect(laneTook).toBe(true)
    expect(lane.status).toBe(502)
    expect(route.status).toBe(502)
    expect(comparable(lane.headers)).toEqual(comparable(route.headers))
    const body = JSON.parse(lane.body) as { error: string; request_id: string }
    expect(body.error).toBe('upstream_unavailable')
    expect(body.request_id).toBe(lane.headers['x-request-id'])
    expect(lane.headers['cache-control']).toBe('no-store')
    expect(lane.headers['x-content-type-options']).toBe('nosniff')
  })

  it('answers an upstream that never answers with the route’s JSON 504, request id and headers', async () => {
    const { cookie } = await warmSession()
    // upstreamTimeoutSeconds is 1 in this suite: no head within it is a 504 on both paths.
    t.upstream.handler = (req) => req.url === '/silent'
    const { lane, route, laneTook } = await both('/api/echo/silent', { cookie, 'x-csrf': '1' })
    expect(laneTook).toBe(true)
    expect(lane.status).toBe(504)
    expect(route.status).toBe(504)
    expect(comparable(lane.headers)).toEqual(comparable(route.headers))
    const body = JSON.parse(lane.body) as { error: string; request_id: string }
    expect(body.error).toBe(errorCode(route))
    expect(body.request_id).toBe(lane.headers['x-request-id'])
  })

  it('stops serving a session the moment it is signed out, here or on another instance', async () => {
    const sibling: TestBroker = await t.sibling({})
    await changeFeedLive(sibling)
    for (const signOutThrough of [t.broker, sibling]) {
      const { cookie } = await warmSession()
      // Warm on the sibling too, so both lanes would serve it from their caches.
      for (let i = 0; i < 2; i++) {
        expect(
          (await rawRequest(sibling.url, '/api/echo/x', { cookie, 'x-csrf': '1' })).status,
        ).toBe(200)
      }
      const signedOut = await rawRequest(
        signOutThrough.url,
        '/auth/logout',
        { cookie, 'x-csrf': '1', origin: signOutThrough.url },
        'POST',
      )
      expect(signedOut.status).toBe(303)
      for (const broker of [t.broker, sibling]) {
        const before = await laneCount(broker)
        const replay = await rawRequest(broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })
        expect(replay.status).toBe(401)
        expect(await laneCount(broker)).toBe(before)
      }
    }
  })

  it('stops at the session’s rate limit exactly as the route does', async () => {
    const limited = await t.sibling({ rateLimitApi: { limit: 6, windowSeconds: 60 } })
    await changeFeedLive(limited)
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      statuses.push(
        (await rawRequest(limited.url, '/api/echo/x', { cookie, 'x-csrf': '1' })).status,
      )
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429])
    // Some of the six were the lane's (below half the limit), none of the refusals.
    expect(await laneCount(limited)).toBeGreaterThan(0)
    expect(await laneCount(limited)).toBeLessThan(6)
  })
})

describe('the /api lane and token refresh', () => {
  let offset = 0
  const t = useScriptedBroker(
    // Long idle timeout, long cache and no rate limit: moving the clock makes only the token due.
    {
      sessionIdleTimeoutSeconds: 36_000,
      sessionAbsoluteTimeoutSeconds: 72_000,
      sessionCacheSeconds: 300,
      rateLimitApi: null,
    },
    { clock: { now: () => Date.now() + offset } },
  )

  it('hands a request whose token is due to the route, which refreshes once', async () => {
    await changeFeedLive(t.broker)
    const { browser } = await t.signIn()
    const headers = { cookie: browser.cookieHeaderFor(t.broker.url), 'x-csrf': '1' }
    await rawRequest(t.broker.url, '/api/echo/x', headers)
    let before = await laneCount(t.broker)
    expect((await rawRequest(t.broker.url, '/api/echo/x', headers)).status).toBe(200)
    expect(await laneCount(t.broker)).toBe(before + 1)
    const firstBearer = t.upstream.requests.at(-1)?.headers.authorization

    offset = 250_000 // the scripted provider's 300 s token is now inside the 60 s refresh buffer
    before = await laneCount(t.broker)
    expect((await rawRequest(t.broker.url, '/api/echo/x', headers)).status).toBe(200)
    expect(await laneCount(t.broker)).toBe(before)
    expect(t.provider.tokenRequests.filter((r) => r.grantType === 'refresh_token')).toHaveLength(1)
    const refreshedBearer = t.upstream.requests.at(-1)?.headers.authorization
    expect(refreshedBearer).not.toBe(firstBearer)

    // The refresh's write emptied this session's cache entry: the next request reads the
    // store through the route; then the token is fresh and the session cached again.
    expect((await rawRequest(t.broker.url, '/api/echo/x', headers)).status).toBe(200)
    expect(await laneCount(t.broker)).toBe(before)
    expect((await rawRequest(t.broker.url, '/api/echo/x', headers)).status).toBe(200)
    expect(await laneCount(t.broker)).toBe(before + 1)
    expect(t.upstream.requests.at(-1)?.headers.authorization).toBe(refreshedBearer)
  })
})

describe('isPlainApiTarget', () => {
  it.each(['/api/a/b?c=d', '/api/echo/items?page=2&sort=a%20b', '/api/x/(a)!*$+,;=:@~_-.b'])(
    'takes %s, which a URL parser leaves as it is',
    (target) => {
      expect(isPlainApiTarget(target)).toBe(true)
    },
  )

  it.each([
    '/api/a/../b',
    '/api/a/./b',
    '/api/a/..',
    '/api/a/%2e%2e/b',
    '/api/a/%41',
    '/api/a b',
    "/api/a?q='1'",
    '/api/a#frag',
    '/api/a\\b',
    '/api/a?q="x"',
    '/api/ä',
    '/apix/a',
    '/auth/user',
  ])('refuses %s', (target) => {
    expect(isPlainApiTarget(target)).toBe(false)
  })

  it('never takes a target whose parsed path or query differs from the raw one (random corpus)', () => {
    const alphabet = 'abcAZ09-._~!$&\'()*+,;=:@/?%#[]\\ "<>`{}|^.%2e%2E%2f'
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    let taken = 0
    for (let i = 0; i < 20_000; i++) {
      let target = '/api/'
      const length = 1 + Math.floor(random() * 12)
      for (let j = 0; j < length; j++) target += alphabet[Math.floor(random() * alphabet.length)]
      if (!isPlainApiTarget(target)) continue
      taken++
      const parsed = new URL(target, 'http://app.test')
      // An empty query ('?' last and only) parses to no search; the route table drops it too.
      const emptyQuery = target.indexOf('?') === target.length - 1
      expect(parsed.pathname + parsed.search).toBe(emptyQuery ? target.slice(0, -1) : target)
    }
    // The corpus exercised the accepting side too.
    expect(taken).toBeGreaterThan(500)
  })
})

describe('bff.nodeListener', () => {
  const t = useScriptedBroker()

  it('answers an HTTP/1.0 request without Host (a load balancer’s health check)', async () => {
    const { text } = await rawExchange(t.broker.url, 'GET /healthz HTTP/1.0\r\n\r\n')
    expect(text).toMatch(/^HTTP\/1\.1 200 /)
  })
})
