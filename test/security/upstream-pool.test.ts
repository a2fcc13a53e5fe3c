import type { IncomingMessage, ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { warmLaneSession } from '../support/api-lane.js'
import { changeFeedLive } from '../support/broker.js'
import { rawConnection, rawRequest } from '../support/raw-request.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { until } from '../support/until.js'

/*
 * The upstream pool stays usable whatever browsers do: an exchange is never started for a
 * browser that left while the route was still deciding (a cold session read, a refresh, an
 * exact rate-limit count), and one whose browser leaves is aborted, so no pooled connection is
 * held by a paused, unread answer (undici's bodyTimeout is 0 for streams); a request queued
 * behind a full pool still gets its 504 at the upstream timeout; pipelined answers all arrive.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Sends one raw request and closes the connection `afterMs` later, unread. */
async function sendAndLeave(base: string, request: string, afterMs: number): Promise<void> {
  const browser = rawConnection(base, request)
  await sleep(afterMs)
  browser.leave()
}

describe('no upstream exchange is left open for a browser that left', () => {
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
    // Whether a forward began depends on timing; none may be left open.
    expect(started - closed).toBe(0)
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

describe('pipelined requests on one connection', () => {
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
    const head = `Host: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n`
    const connection = rawConnection(
      t.broker.url,
      `GET /api/echo/slow HTTP/1.1\r\n${head}\r\nGET /api/echo/big HTTP/1.1\r\n${head}Connection: close\r\n\r\n`,
    )
    // One character per byte received (latin1).
    const received = (await connection.received(5000)).length
    connection.leave()
    expect(received).toBeGreaterThan(big.length)
  })
})

describe('a request behind a full upstream pool', () => {
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
    const browsers = Array.from({ length: 256 }, () =>
      rawConnection(
        t.broker.url,
        `GET /api/echo/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-Csrf: 1\r\n\r\n`,
      ),
    )
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
      for (const browser of browsers) browser.leave()
      for (const res of streams) res.end()
    }
  })
})
