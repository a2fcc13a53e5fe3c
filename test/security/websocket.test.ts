import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { reserveBrokerUrl, startBroker, storedSessionOf } from '../support/broker.js'
import { rawConnection } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { openWebSocket, serveWebSockets, type WebSocketUpstream } from '../support/websocket.js'

const COOKIE = '__Host-bff-session'
const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/*
 * A WebSocket handshake cannot carry the CSRF header, so the broker admits it by its Origin
 * (the public origin, exactly) through the same /api steps as every call, on routes that
 * turn `websocket` on; the upstream gets its own handshake with the bearer and nothing of the
 * browser's credentials.
 */
describe('WebSocket through /api: the handshake', () => {
  const t = useScriptedBroker({ apiMaxInFlightPerSession: 3 }, {}, {}, (upstream) => [
    { prefix: '/api/live', upstream, websocket: true },
    { prefix: '/api/plain', upstream },
    { prefix: '/api/open-live', upstream, websocket: true, token: 'none' },
  ])
  let ws: WebSocketUpstream
  beforeAll(() => {
    ws = serveWebSockets(t.upstream.server)
  })
  beforeEach(() => {
    ws.handshakes.length = 0
    ws.refuseWith = undefined
  })

  const signedIn = async () => {
    const { browser } = await t.signIn()
    return { browser, cookie: browser.cookieHeaderFor(t.broker.url) }
  }
  const fromApp = (cookie: string) => ({ origin: t.broker.url, cookie })

  /** A handshake exactly as given, and what the broker answered before closing. */
  async function rawHandshake(path: string, headers: Record<string, string>, method = 'GET') {
    const lines = [
      `${method} ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${t.broker.port}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      `Sec-WebSocket-Key: ${KEY}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ]
    const connection = rawConnection(t.broker.url, `${lines.join('\r\n')}\r\n\r\n`)
    const status = await connection.status()
    // A refusal closes the connection; a 101 leaves it open (closed here once read).
    const text = await connection.received(status === 101 ? 200 : 3000)
    const closed = connection.socket.destroyed || connection.socket.readableEnded
    connection.socket.destroy()
    const [head = '', body = ''] = text.split('\r\n\r\n')
    return { status, head: head.toLowerCase(), body, closed }
  }

  it('opens through the broker: the upstream sees the bearer and allow-listed headers, never the cookie, Origin or CSRF header; messages pass both ways', async () => {
    const { browser, cookie } = await signedIn()
    const socket = openWebSocket(`${t.broker.url}/api/live/feed?x=1`, {
      ...fromApp(cookie),
      'x-csrf': '1',
      'x-forwarded-user': 'admin',
      'accept-language': 'de',
    })
    await socket.opened
    socket.socket.send('hello')
    expect(await socket.next()).toBe('echo:hello')
    ws.sockets.at(-1)?.send('from upstream')
    expect(await socket.next()).toBe('from upstream')

    const { session } = await storedSessionOf(t.broker, browser.cookie(COOKIE)?.value)
    const [seen] = ws.handshakes
    expect(ws.handshakes).toHaveLength(1)
    expect(seen?.url).toBe('/feed?x=1')
    expect(seen?.headers.authorization).toBe(`Bearer ${session?.tokens.accessToken}`)
    expect(seen?.headers['accept-language']).toBe('de')
    expect(seen?.headers['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/)
    expect(seen?.headers.upgrade).toBe('websocket')
    for (const name of ['cookie', 'origin', 'x-csrf', 'x-forwarded-user']) {
      expect(seen?.headers[name], name).toBeUndefined()
    }
    socket.socket.close()
    await socket.closed
  })

  it('relays only the WebSocket headers of the upstream 101 (no Set-Cookie, nothing else)', async () => {
    const { cookie } = await signedIn()
    const answer = await rawHandshake('/api/live/x', {
      ...fromApp(cookie),
      'sec-websocket-protocol': 'chat.v2, chat.v1',
    })
    expect(answer.status).toBe(101)
    expect(ws.handshakes[0]?.headers['sec-websocket-protocol']).toBe('chat.v2, chat.v1')
    const names = answer.head
      .split('\r\n')
      .slice(1)
      .map((line) => line.split(':')[0])
    expect(names.sort()).toEqual([
      'connection',
      'sec-websocket-accept',
      'sec-websocket-protocol',
      'upgrade',
      'x-request-id',
    ])
    expect(answer.head).toContain('sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=')
    expect(answer.head).toContain('sec-websocket-protocol: chat.v2')
  })

  it.each<[string, Record<string, string>, number, string]>([
    ['a cross-site Origin', { origin: 'http://evil.test' }, 403, 'csrf_failed'],
    ['no Origin', { origin: '' }, 403, 'csrf_failed'],
    ['Origin null', { origin: 'null', 'sec-fetch-site': 'same-origin' }, 403, 'csrf_failed'],
    ['Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site' }, 403, 'csrf_failed'],
    ['Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }, 403, 'csrf_failed'],
  ])('refuses %s before anything reaches the upstream', async (_name, headers, status, error) => {
    const { cookie } = await signedIn()
    const sent = { ...fromApp(cookie), ...headers }
    if (sent.origin === '') delete (sent as Partial<typeof sent>).origin
    const answer = await rawHandshake('/api/live/x', sent)
    expect(answer.status).toBe(status)
    expect(JSON.parse(answer.body)).toMatchObject({ error })
    expect(answer.head).toContain('connection: close')
    expect(answer.closed).toBe(true)
    expect(ws.handshakes).toHaveLength(0)
  })

  it('refuses a sibling origin (same site, another port) with a valid session', async () => {
    const { cookie } = await signedIn()
    const sibling = `http://127.0.0.1:${t.broker.port + 1}`
    const answer = await rawHandshake('/api/live/x', { origin: sibling, cookie })
    expect(answer.status).toBe(403)
    expect(ws.handshakes).toHaveLength(0)
  })

  it('refuses without a session (401) and clears a cookie that names no session', async () => {
    const anonymous = await rawHandshake('/api/live/x', { origin: t.broker.url })
    expect(anonymous.status).toBe(401)
    expect(JSON.parse(anonymous.body)).toMatchObject({ error: 'unauthenticated' })
    const { browser, cookie } = await signedIn()
    await t.apiCall(browser, '/auth/logout', { method: 'POST' })
    const ended = await rawHandshake('/api/live/x', fromApp(cookie))
    expect(ended.status).toBe(401)
    expect(JSON.parse(ended.body)).toMatchObject({ error: 'session_expired' })
    expect(ended.head).toMatch(/set-cookie: __host-bff-session=; max-age=0/)
    expect(ws.handshakes).toHaveLength(0)
  })

  it.each<[string, string, string, Record<string, string>, number, string]>([
    ['a route without websocket', 'GET', '/api/plain/x', {}, 403, 'websocket_disabled'],
    ['POST', 'POST', '/api/live/x', {}, 405, 'method_not_allowed'],
    ['a path escaping its mount', 'GET', '/api/live/..;/plain', {}, 400, 'invalid_path'],
    ['no route', 'GET', '/api/nowhere/x', {}, 404, 'not_found'],
    ['a path outside /api', 'GET', '/auth/user', {}, 404, 'not_found'],
    ['another protocol', 'GET', '/api/live/x', { upgrade: 'h2c' }, 400, 'invalid_request'],
    ['a malformed key', 'GET', '/api/live/x', { 'sec-websocket-key': 'x' }, 400, 'invalid_request'],
    ['a body', 'GET', '/api/live/x', { 'content-length': '5' }, 400, 'invalid_request'],
  ])('refuses %s', async (_name, method, path, headers, status, error) => {
    const { cookie } = await signedIn()
    const answer = await rawHandshake(path, { ...fromApp(cookie), ...headers }, method)
    expect(answer.status).toBe(status)
    expect(JSON.parse(answer.body)).toMatchObject({ error })
    expect(ws.handshakes).toHaveLength(0)
  })

  it('refreshes a due token once before the upstream handshake, which gets the new token', async () => {
    t.provider.script.tokenResponse = (d) => ({ ...d, expires_in: 1 })
    const { browser, cookie } = await signedIn()
    const before = await storedSessionOf(t.broker, browser.cookie(COOKIE)?.value)
    t.provider.reset()
    // A token whose whole life is shorter than twice the buffer is due at half its life.
    await new Promise((resolve) => setTimeout(resolve, 600))
    const refreshes = () =>
      t.provider.tokenRequests.filter((r) => r.grantType === 'refresh_token').length
    const socket = openWebSocket(`${t.broker.url}/api/live/x`, fromApp(cookie))
    await socket.opened
    const after = await storedSessionOf(t.broker, browser.cookie(COOKIE)?.value)
    expect(refreshes()).toBe(1)
    expect(after.session?.tokens.accessToken).not.toBe(before.session?.tokens.accessToken)
    expect(ws.handshakes[0]?.headers.authorization).toBe(
      `Bearer ${after.session?.tokens.accessToken}`,
    )
    socket.socket.close()
  })

  it('answers 502 when the upstream refuses the handshake, and gives the slot back', async () => {
    const { cookie } = await signedIn()
    ws.refuseWith = 403
    for (let i = 0; i < 4; i++) {
      const answer = await rawHandshake('/api/live/x', fromApp(cookie))
      expect(answer.status).toBe(502)
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'upstream_unavailable' })
    }
    expect(ws.handshakes).toHaveLength(4)
  })

  it('holds one of the session’s in-flight slots per open socket (429 past the cap), and gives it back on close', async () => {
    const { cookie } = await signedIn()
    const open = [1, 2, 3].map(() => openWebSocket(`${t.broker.url}/api/live/x`, fromApp(cookie)))
    await Promise.all(open.map((s) => s.opened))
    const refused = await rawHandshake('/api/live/x', fromApp(cookie))
    expect(refused.status).toBe(429)
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'too_many_in_flight' })
    open[0]?.socket.close()
    await open[0]?.closed
    const again = openWebSocket(`${t.broker.url}/api/live/x`, fromApp(cookie))
    await again.opened
    for (const s of [...open, again]) s.socket.close()
  })

  it('a route with token none opens without a session and never sends a bearer', async () => {
    const socket = openWebSocket(`${t.broker.url}/api/open-live/x`, { origin: t.broker.url })
    await socket.opened
    expect(ws.handshakes[0]?.headers.authorization).toBeUndefined()
    socket.socket.close()
  })

  it('a broker that stops closes its sockets with 1001 (going away) and does not wait for them', async () => {
    const other = await startBroker(await reserveBrokerUrl(), {
      issuer: t.provider.issuer,
      clientId: 'bff-client',
      clientSecret: 'scripted-secret',
      apiRoutes: [
        { prefix: '/api/open-live', upstream: t.upstream.url, websocket: true, token: 'none' },
      ],
    })
    const socket = openWebSocket(`${other.url}/api/open-live/x`, { origin: other.url })
    await socket.opened
    const stopping = performance.now()
    await other.stop()
    const closed = await socket.closed
    expect(closed.code).toBe(1001)
    expect(closed.at - stopping).toBeLessThan(3000)
  })
})
