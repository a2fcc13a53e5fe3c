import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { parseFrame } from '../../demo/api/websocket.js'
import type { BffOptions } from '../../src/config/schema.js'
import { MemorySessionStore } from '../../src/store/memory-session-store.js'
import { changeFeedLive, storedSessionOf, type TestBroker } from '../support/broker.js'
import type { HttpBrowser } from '../support/http-browser.js'
import { forgeLogoutToken, postLogoutToken } from '../support/logout-token.js'
import { rawConnection } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { runCli } from '../support/sessions-cli.js'
import {
  type BrowserSocket,
  openWebSocket,
  serveWebSockets,
  type WebSocketUpstream,
} from '../support/websocket.js'

const COOKIE = '__Host-bff-session'
/** The issue's bound for an explicit end (logout, revocation) to reach a socket on any instance. */
const EXPLICIT_END_MS = 2000
/** Expiry is found by a once-a-second sweep: at the deadline, within a couple of seconds. */
const EXPIRY_MS = 2500

const liveRoutes = (upstream: string): NonNullable<BffOptions['apiRoutes']> => [
  { prefix: '/api/live', upstream, websocket: true },
  // The upstream timeout is 1 s here: a stream must outlive it once it has started.
  { prefix: '/api/events', upstream, timeoutSeconds: 1 },
]

/** The close event, or a failure if none came within `ms`. */
function closedWithin(socket: BrowserSocket, ms: number) {
  return Promise.race([
    socket.closed,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms),
    ),
  ])
}

/**
 * A socket held on instance B must close with 4401 when its session ends through instance A
 * (logout, sign out everywhere, back-channel logout) or the operator CLI: the end reaches B
 * through the Redis change feed, B re-reads the session and closes what it holds.
 */
describe('a live WebSocket closes when its session ends on another instance', () => {
  const t = useScriptedBroker({}, {}, {}, liveRoutes)
  let ws: WebSocketUpstream
  let b: TestBroker
  beforeAll(async () => {
    ws = serveWebSockets(t.upstream.server)
    b = await t.sibling({ apiRoutes: liveRoutes(t.upstream.url) })
    await changeFeedLive(b)
  })

  async function socketOnB() {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const socket = openWebSocket(`${b.url}/api/live/x`, { origin: b.url, cookie })
    await socket.opened
    const upstreamSide = ws.sockets.at(-1)
    if (!upstreamSide) throw new Error('no upstream socket')
    return { browser, cookie, socket, upstreamSide }
  }

  async function expectClosedAfter(
    what: string,
    socket: BrowserSocket,
    end: () => Promise<unknown>,
  ) {
    const started = performance.now()
    await end()
    const answered = performance.now()
    const closed = await closedWithin(socket, 5000)
    const ms = Math.round(closed.at - answered)
    // Negative: closed before the answer (or the CLI's exit) reached the test; the delete comes first.
    console.log(
      `${what}: the socket on instance B closed ${ms} ms after the end was answered (${Math.round(closed.at - started)} ms after it was sent)`,
    )
    expect(closed.code).toBe(4401)
    expect(closed.reason).toBe('session ended')
    expect(ms).toBeLessThan(EXPLICIT_END_MS)
  }

  it('logout on instance A: 4401 within 2 s, and the upstream gets the close frame too', async () => {
    const { browser, socket, upstreamSide } = await socketOnB()
    await expectClosedAfter('logout on A', socket, () =>
      t.apiCall(browser, '/auth/logout', { method: 'POST' }),
    )
    expect((await upstreamSide.closed).code).toBe(4401)
  })

  it('sign out everywhere from another session of the user', async () => {
    const { socket } = await socketOnB()
    const { browser: elsewhere } = await t.signIn()
    await expectClosedAfter('sign out everywhere on A', socket, () =>
      t.apiCall(elsewhere, '/auth/logout?scope=all', { method: 'POST' }),
    )
  })

  it('back-channel logout received by instance A', async () => {
    const { socket } = await socketOnB()
    const token = await forgeLogoutToken(t.provider, 'bff-client')
    await expectClosedAfter('back-channel logout on A', socket, async () => {
      expect((await postLogoutToken(t.broker.url, token)).status).toBe(200)
    })
  })

  it('the operator CLI revokes the session', async () => {
    const { browser, socket } = await socketOnB()
    const { key } = await storedSessionOf(t.broker, browser.cookie(COOKIE)?.value)
    await expectClosedAfter('operator CLI revoke', socket, async () => {
      const run = await runCli(['revoke', key.slice(0, 12)], {
        REDIS_URL: inject('redisUrl'),
        REDIS_KEY_PREFIX: t.broker.store.keyPrefix,
        OIDC_ISSUER: t.provider.issuer,
      })
      expect(run.code).toBe(0)
    })
  })

  it('a refresh on instance A (the session replaced, not ended) leaves the socket open', async () => {
    t.provider.script.tokenResponse = (d) => ({ ...d, expires_in: 1 })
    const { browser, socket } = await socketOnB()
    await new Promise((resolve) => setTimeout(resolve, 600)) // due at half its life
    const refreshesBefore = t.provider.tokenRequests.length
    expect((await t.apiCall(browser, '/api/live/y')).status).toBe(200)
    expect(t.provider.tokenRequests.length).toBe(refreshesBefore + 1)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    socket.socket.send('still there?')
    expect(await socket.next()).toBe('echo:still there?')
    socket.socket.close()
    expect((await socket.closed).code).toBe(1005)
  })

  it('sends the browser an unmasked close frame with 4401 between two frames', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const head = [
      'GET /api/live/raw HTTP/1.1',
      `Host: ${new URL(b.url).host}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      `Origin: ${b.url}`,
      `Cookie: ${cookie}`,
    ]
    const connection = rawConnection(b.url, `${head.join('\r\n')}\r\n\r\n`)
    expect(await connection.status()).toBe(101)
    // A frame the upstream is sending when the session ends: 64 kB, so it is still on its way.
    const upstreamSide = ws.sockets.at(-1)
    upstreamSide?.send('x'.repeat(64 * 1024))
    await t.apiCall(browser, '/auth/logout', { method: 'POST' })
    const text = await connection.received(3000)
    let bytes = Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1')
    const frames = []
    for (let frame = parseFrame(bytes); frame; frame = parseFrame(bytes)) {
      frames.push(frame)
      bytes = bytes.subarray(frame.size)
    }
    expect(bytes.length).toBe(0)
    expect(frames.map((f) => [f.opcode, f.masked, f.payload.length])).toEqual([
      [0x1, false, 64 * 1024],
      [0x8, false, 2 + 'session ended'.length],
    ])
    expect(frames[1]?.payload.readUInt16BE(0)).toBe(4401)
  })
})

/**
 * Idle and absolute expiry are Redis TTLs nobody announces: instance B compares its sockets'
 * deadlines with its clock every second and re-reads a session whose deadline passed, since
 * another instance may have renewed it.
 */
describe('a live WebSocket closes when its session expires', () => {
  let offset = 0
  const clock = { now: () => Date.now() + offset }
  const t = useScriptedBroker(
    { sessionIdleTimeoutSeconds: 60, sessionAbsoluteTimeoutSeconds: 120 },
    { clock },
    {},
    liveRoutes,
  )
  let b: TestBroker
  beforeAll(async () => {
    serveWebSockets(t.upstream.server)
    b = await t.sibling({
      apiRoutes: liveRoutes(t.upstream.url),
      sessionIdleTimeoutSeconds: 60,
      sessionAbsoluteTimeoutSeconds: 120,
    })
    await changeFeedLive(b)
  })
  afterEach(() => {
    offset = 0
  })
  const seconds = (n: number) => {
    offset += n * 1000
  }
  const sweep = () => new Promise((resolve) => setTimeout(resolve, 1500))

  async function socketOnB(): Promise<{ browser: HttpBrowser; socket: BrowserSocket }> {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const socket = openWebSocket(`${b.url}/api/live/x`, { origin: b.url, cookie })
    await socket.opened
    return { browser, socket }
  }

  async function expectClosedByExpiry(what: string, socket: BrowserSocket) {
    const passed = performance.now()
    const closed = await closedWithin(socket, 5000)
    const ms = Math.round(closed.at - passed)
    console.log(`${what}: the socket on instance B closed ${ms} ms after the deadline passed`)
    expect(closed.code).toBe(4401)
    expect(ms).toBeLessThan(EXPIRY_MS)
  }

  it('idle expiry closes it at the deadline', async () => {
    const { socket } = await socketOnB()
    seconds(61)
    await expectClosedByExpiry('idle expiry', socket)
  })

  it('a renewal on another instance keeps it open past the deadline it knew; the absolute deadline closes it', async () => {
    const { browser, socket } = await socketOnB()
    seconds(50)
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(200) // renewed on A, unannounced
    seconds(20) // past the idle deadline B knew (60 s), not the renewed one (110 s)
    await sweep()
    socket.socket.send('alive')
    expect(await socket.next()).toBe('echo:alive')
    seconds(30)
    expect((await t.apiCall(browser, '/auth/user')).status).toBe(200) // idle now ends at 160 s
    seconds(21) // 121 s: past the absolute deadline (120 s)
    await expectClosedByExpiry('absolute expiry', socket)
  })
})

describe('a live WebSocket on the in-process store (one instance, no Redis feed)', () => {
  const t = useScriptedBroker({}, { store: new MemorySessionStore() }, {}, liveRoutes)
  beforeAll(() => {
    serveWebSockets(t.upstream.server)
  })

  it('closes with 4401 at once when logout deletes the session on the same instance (its feed is in-process)', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const socket = openWebSocket(`${t.broker.url}/api/live/x`, { origin: t.broker.url, cookie })
    await socket.opened
    await t.apiCall(browser, '/auth/logout', { method: 'POST' })
    const answered = performance.now()
    const closed = await closedWithin(socket, EXPLICIT_END_MS)
    const ms = Math.round(closed.at - answered)
    console.log(`in-process store: the socket closed ${ms} ms after the logout was answered`)
    expect(closed.code).toBe(4401)
    // Not a sweep's re-read (once a second): the delete itself reached the socket.
    expect(ms).toBeLessThan(500)
  })
})

/**
 * A streamed answer (server-sent events) has no end the broker could wait for: once started it
 * is not cut by the upstream timeout, and it ends with its session like a socket.
 */
describe('a streamed /api answer', () => {
  const t = useScriptedBroker({}, {}, {}, liveRoutes)
  let b: TestBroker
  let upstreamClosed: Promise<void>
  beforeAll(async () => {
    b = await t.sibling({ apiRoutes: liveRoutes(t.upstream.url) })
    await changeFeedLive(b)
  })
  beforeEach(() => {
    upstreamClosed = new Promise((resolve) => {
      t.upstream.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
        let n = 0
        const tick = setInterval(() => res.write(`data: ${n++}\n\n`), 100)
        res.on('close', () => {
          clearInterval(tick)
          resolve()
        })
        return true
      }
    })
  })

  /** Reads the stream until it ends (when `ended` resolves); `events` fills as they arrive. */
  async function readStream(cookie: string, events: string[]): Promise<{ ended: Promise<number> }> {
    const response = await fetch(`${b.url}/api/events/stream`, {
      headers: { cookie, 'x-csrf': '1' },
    })
    expect(response.status).toBe(200)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    const ended = (async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return performance.now()
        events.push(...decoder.decode(value).split('\n\n').filter(Boolean))
      }
    })()
    return { ended }
  }

  it('is not cut by the upstream timeout once started, and ends within 2 s of a logout on another instance', async () => {
    const { browser } = await t.signIn()
    const events: string[] = []
    const { ended } = await readStream(browser.cookieHeaderFor(t.broker.url), events)
    await new Promise((resolve) => setTimeout(resolve, 2500)) // 2.5 × the 1 s upstream timeout
    const before = events.length
    expect(before).toBeGreaterThan(15)
    const loggedOut = performance.now()
    await t.apiCall(browser, '/auth/logout', { method: 'POST' })
    const endedAt = await Promise.race([
      ended,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still open')), 5000)),
    ])
    console.log(
      `logout on A: the event stream on instance B ended ${Math.round(endedAt - loggedOut)} ms after the logout was sent (${before} events before)`,
    )
    expect(endedAt - loggedOut).toBeLessThan(EXPLICIT_END_MS)
    await upstreamClosed // the upstream exchange was cancelled, not left running
  })
})
