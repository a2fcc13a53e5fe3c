import type { IncomingMessage, ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { type RawConnection, rawConnection, rawRequest } from '../support/raw-request.js'
import { type ScriptedSetup, useScriptedBroker } from '../support/scripted-broker.js'
import { until } from '../support/until.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A signed-in browser's Cookie header. */
async function sessionCookie(t: ScriptedSetup): Promise<string> {
  const { browser } = await t.signIn()
  return browser.cookieHeaderFor(t.broker.url)
}

/** A POST whose head is sent at once and whose body (of `length` bytes) is still to come. */
function slowUpload(t: ScriptedSetup, cookie: string, target: string, length: number) {
  return rawConnection(
    t.broker.url,
    `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n`,
  )
}

/** Connections the upstream has accepted, counted from now on. */
function countUpstreamConnections(t: ScriptedSetup): { count: number; stop(): void } {
  const counter = { count: 0, stop: () => t.upstream.server.off('connection', onConnection) }
  const onConnection = () => {
    counter.count++
  }
  t.upstream.server.on('connection', onConnection)
  return counter
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

describe('Request bodies are read before an upstream connection is taken', () => {
  const t = useScriptedBroker({ requestBodyTimeoutSeconds: 2, rateLimitApi: null })

  it('opens no upstream connection while the body is still arriving, then forwards it whole', async () => {
    const cookie = await sessionCookie(t)
    const upstream = countUpstreamConnections(t)
    try {
      const upload = slowUpload(t, cookie, '/api/echo/upload', 20)
      upload.write('0123456789')
      await sleep(500)
      expect({ connections: upstream.count, requests: t.upstream.requests.length }).toEqual({
        connections: 0,
        requests: 0,
      })
      upload.write('abcdefghij')
      expect(await upload.status()).toBe(200)
      expect(t.upstream.requests.map((r) => r.body)).toEqual(['0123456789abcdefghij'])
      upload.socket.destroy()
    } finally {
      upstream.stop()
    }
  })

  it('answers 408 request_timeout at the body deadline and closes the connection', async () => {
    const cookie = await sessionCookie(t)
    const started = Date.now()
    const upload = slowUpload(t, cookie, '/api/echo/upload', 200)
    const trickle = setInterval(() => upload.write('x'), 300)
    try {
      const answer = await upload.received(6000)
      const elapsed = Date.now() - started
      console.log(`slow body: 408 after ${elapsed} ms (deadline 2000 ms)`)
      expect(answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(answer).toMatch(/\r\nconnection: close\r\n/i)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
        error: 'request_timeout',
      })
      expect(elapsed).toBeGreaterThanOrEqual(1900)
      expect(elapsed).toBeLessThan(4000)
      await upload.closed
      expect(t.upstream.requests).toHaveLength(0)
    } finally {
      clearInterval(trickle)
      upload.socket.destroy()
    }
  })

  it('streams the body as it arrives on a route that opts in (stream)', async () => {
    const cookie = await sessionCookie(t)
    const heads: string[] = []
    const onRequest = (req: IncomingMessage) => heads.push(req.url ?? '')
    t.upstream.server.on('request', onRequest)
    try {
      const upload = slowUpload(t, cookie, '/api/echo-stream/upload', 20)
      upload.write('0123456789')
      await until(() => heads.length === 1, 'the upstream request before the body ended', 3000)
      expect(t.upstream.requests).toHaveLength(0)
      upload.write('abcdefghij')
      expect(await upload.status()).toBe(200)
      expect(t.upstream.requests.map((r) => r.body)).toEqual(['0123456789abcdefghij'])
      upload.socket.destroy()
    } finally {
      t.upstream.server.off('request', onRequest)
    }
  })

  it('refuses a chunked body past MAX_BODY_BYTES with 413 before anything goes upstream', async () => {
    const cookie = await sessionCookie(t)
    const upload = rawConnection(
      t.broker.url,
      `POST /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
    )
    const chunk = 'y'.repeat(64 * 1024)
    for (let i = 0; i < 20; i++) upload.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
    const answer = await upload.received(5000)
    expect(answer).toMatch(/^HTTP\/1\.1 413 /)
    expect(t.upstream.requests).toHaveLength(0)
    upload.socket.destroy()
  })
})

describe('A cap on one session’s requests in progress', () => {
  const t = useScriptedBroker({
    apiMaxInFlightPerSession: 4,
    requestBodyTimeoutSeconds: 10,
    rateLimitApi: null,
  })

  it('admits exactly the cap and answers the rest 429 too_many_in_flight with Retry-After', async () => {
    const cookie = await sessionCookie(t)
    const uploads = Array.from({ length: 10 }, () => slowUpload(t, cookie, '/api/echo/up', 2))
    for (const upload of uploads) upload.write('a')
    try {
      const refused: RawConnection[] = []
      await until(async () => {
        refused.length = 0
        for (const upload of uploads) {
          if ((await upload.received(0)).startsWith('HTTP/1.1 429')) refused.push(upload)
        }
        return refused.length === 6
      }, 'six refusals')
      const answer = await (refused[0] as RawConnection).received(0)
      expect(answer).toMatch(/\r\nretry-after: 1\r\n/i)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
        error: 'too_many_in_flight',
      })
      // A fifth request of the same session, GET this time, is refused too; another session is not.
      const get = await rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })
      expect(get.status).toBe(429)
      const other = await sessionCookie(t)
      expect(
        (await rawRequest(t.broker.url, '/api/echo/x', { cookie: other, 'x-csrf': '1' })).status,
      ).toBe(200)
      // The four admitted ones complete; their slots come back.
      const admitted = uploads.filter((upload) => !refused.includes(upload))
      for (const upload of admitted) upload.write('b')
      expect(await Promise.all(admitted.map((upload) => upload.status()))).toEqual([
        200, 200, 200, 200,
      ])
      await until(
        async () =>
          (await rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })).status === 200,
        'a slot free again',
      )
    } finally {
      for (const upload of uploads) upload.socket.destroy()
    }
  })

  it('counts GETs the upstream is still answering, whichever path serves them', async () => {
    const cookie = await sessionCookie(t)
    // Warm: the next GETs can take the node-level lane.
    expect((await rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })).status).toBe(
      200,
    )
    const held: ServerResponse[] = []
    t.upstream.handler = (req, res) => {
      if (req.url !== '/hold') return false
      held.push(res)
      return true
    }
    const pending = Array.from({ length: 4 }, () =>
      rawRequest(t.broker.url, '/api/echo/hold', { cookie, 'x-csrf': '1' }),
    )
    await until(() => held.length === 4, 'four held answers')
    const refused = await rawRequest(t.broker.url, '/api/echo/x', { cookie, 'x-csrf': '1' })
    expect(refused.status).toBe(429)
    for (const res of held) res.writeHead(200).end('done')
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200, 200, 200])
  })
})

describe('300 slow uploads by one session', () => {
  const t = useScriptedBroker()

  it('leave another session’s calls fast and take no upstream connection', async () => {
    const attacker = await sessionCookie(t)
    const user = await sessionCookie(t)
    // Warm the user's session as a browser would have.
    expect(
      (await rawRequest(t.broker.url, '/api/echo/x', { cookie: user, 'x-csrf': '1' })).status,
    ).toBe(200)
    t.upstream.requests.length = 0
    const upstream = countUpstreamConnections(t)
    const uploads = Array.from({ length: 300 }, () =>
      slowUpload(t, attacker, '/api/echo/upload', 200),
    )
    for (const upload of uploads) upload.write('a')
    const trickle = setInterval(() => {
      for (const upload of uploads) upload.write('a')
    }, 3000)
    const latencies: number[] = []
    try {
      const until = Date.now() + 4000
      for (let i = 0; Date.now() < until; i++) {
        const started = performance.now()
        const answer =
          i % 2 === 0
            ? await rawRequest(t.broker.url, `/api/echo/user-${i}`, { cookie: user, 'x-csrf': '1' })
            : await rawRequest(
                t.broker.url,
                `/api/echo/user-${i}`,
                { cookie: user, 'x-csrf': '1', 'content-type': 'application/json' },
                'POST',
                '{"ok":true}',
              )
        latencies.push(performance.now() - started)
        expect(answer.status).toBe(200)
        await sleep(20)
      }
      const statuses = await Promise.all(
        uploads.map(
          async (upload) => /^HTTP\/1\.1 (\d{3})/.exec(await upload.received(0))?.[1] ?? 'pending',
        ),
      )
      const counts = statuses.reduce<Record<string, number>>((all, s) => {
        all[s] = (all[s] ?? 0) + 1
        return all
      }, {})
      const p50 = median(latencies)
      const worst = Math.max(...latencies)
      console.log(
        `300 slow uploads: other session ${latencies.length} calls, median ${p50.toFixed(1)} ms, worst ${worst.toFixed(1)} ms; uploads ${JSON.stringify(counts)}; attacker requests upstream: ${t.upstream.requests.filter((r) => r.url === '/upload').length}`,
      )
      expect(p50).toBeLessThan(100)
      expect(worst).toBeLessThan(1000)
      expect(counts).toEqual({ '429': 268, pending: 32 })
      expect(t.upstream.requests.filter((r) => r.url === '/upload')).toHaveLength(0)
      // The user's calls may have opened a connection or two; the attacker's opened none.
      expect(upstream.count).toBeLessThanOrEqual(2)
    } finally {
      clearInterval(trickle)
      upstream.stop()
      for (const upload of uploads) upload.socket.destroy()
    }
  })
})

describe('A budget for the request bodies a process holds', () => {
  const t = useScriptedBroker({
    maxBodyBytes: 1024,
    maxBufferedBodyBytes: 2048,
    requestBodyTimeoutSeconds: 10,
    rateLimitApi: null,
  })

  it('answers 503 server_busy past it, whichever session holds the rest, and serves again once bodies are forwarded', async () => {
    const [first, second, third] = [
      await sessionCookie(t),
      await sessionCookie(t),
      await sessionCookie(t),
    ] as [string, string, string]
    const holders = [
      slowUpload(t, first, '/api/echo/a', 1000),
      slowUpload(t, second, '/api/echo/b', 1000),
    ]
    try {
      for (const upload of holders) upload.write('x'.repeat(999))
      await sleep(300)
      const busy = slowUpload(t, third, '/api/echo/c', 100)
      busy.write('y'.repeat(100))
      const answer = await busy.received(3000)
      expect(answer).toMatch(/^HTTP\/1\.1 503 /)
      expect(answer).toMatch(/\r\nretry-after: 2\r\n/i)
      expect(answer).toMatch(/\r\nconnection: close\r\n/i)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
        error: 'server_busy',
      })
      expect(t.upstream.requests.map((r) => r.url)).toEqual([])
      // The first body completes and is forwarded: its bytes go back to the budget.
      ;(holders[0] as RawConnection).write('x')
      expect(await (holders[0] as RawConnection).status()).toBe(200)
      const after = await rawRequest(
        t.broker.url,
        '/api/echo/d',
        { cookie: third, 'x-csrf': '1', 'content-type': 'text/plain' },
        'POST',
        'z'.repeat(900),
      )
      expect(after.status).toBe(200)
      busy.socket.destroy()
    } finally {
      for (const upload of holders) upload.socket.destroy()
    }
  })
})
