import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Bff, createBff } from '../../src/app.js'
import { randomId } from '../../src/lib/random.js'
import { createLogger } from '../../src/observability/logger.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { type EchoUpstream, startEchoUpstream } from '../support/echo-upstream.js'
import { freePort } from '../support/free-port.js'
import { HttpBrowser } from '../support/http-browser.js'
import { startRedis, type TestRedis } from '../support/redis.js'
import { type ScriptedProvider, startScriptedProvider } from '../support/scripted-provider.js'

/*
 * A real redis-server that the tests stop, start and pause. It keeps an append-only file, so
 * a restart brings the sessions back as a production Redis with persistence would.
 */
describe('Redis faults', () => {
  let dir: string
  let redisPort: number
  let redis: TestRedis | undefined
  let provider: ScriptedProvider
  let upstream: EchoUpstream
  let bff: Bff
  let url: string
  let offset = 0
  let stopServer: () => void
  const logs: Array<Record<string, unknown>> = []
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)

  const startOurRedis = async () => {
    redis = await startRedis({
      port: redisPort,
      args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir],
    })
  }
  const stopOurRedis = async () => {
    await redis?.stop()
    redis = undefined
  }
  const admin = () => new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true })

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bff-faults-'))
    redisPort = await freePort()
    provider = await startScriptedProvider({ clientId: 'faults' })
    upstream = await startEchoUpstream()
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    const logStream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line))
        done()
      },
    })
    // Redis is NOT running yet: the broker must start anyway.
    bff = createBff(
      {
        publicUrl: url,
        issuer: provider.issuer,
        clientId: 'faults',
        clientSecret: 's',
        dangerouslyAllowHttpIssuer: true,
        cookieSecrets: [{ id: 1, secret: `test-only-${randomId(24)}` }],
        apiRoutes: [{ prefix: '/api/echo', upstream: upstream.url }],
      },
      {
        logger: createLogger('info', logStream),
        clock: { now: () => Date.now() + offset },
        store: new RedisSessionStore({
          url: `redis://127.0.0.1:${redisPort}`,
          keyPrefix: 'faults:',
        }),
      },
    )
    const server = createServer(bff.nodeListener()).listen(port, '127.0.0.1')
    stopServer = () => server.close()
    process.on('unhandledRejection', onUnhandled)
  })

  afterEach(() => {
    offset = 0
    expect(unhandled).toEqual([])
  })

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled)
    stopServer?.()
    await bff?.close()
    await stopOurRedis()
    await upstream?.stop()
    await provider?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const call = (browser: HttpBrowser, path: string) =>
    browser.request(`${url}${path}`, { kind: 'fetch', initiator: url, headers: { 'x-csrf': '1' } })

  async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
    const startedAt = performance.now()
    const result = await work()
    return [result, performance.now() - startedAt]
  }

  async function signIn() {
    const browser = new HttpBrowser()
    const response = await browser.follow(`${url}/auth/login`, { initiator: url })
    expect(response.status).toBe(200)
    return browser
  }

  it('starts without Redis, is not ready, and becomes ready once Redis comes', async () => {
    const notReady = await fetch(`${url}/readyz`)
    expect(notReady.status).toBe(503)
    expect(await notReady.json()).toMatchObject({ store: 'unavailable' })
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    await startOurRedis()
    const [, waited] = await timed(async () => {
      for (;;) {
        if ((await fetch(`${url}/readyz`)).status === 200) return
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    })
    expect(waited).toBeLessThan(3000)
  })

  it('answers 503 fast while Redis is down, keeps the cookie, proxies nothing, and serves again when it returns', async () => {
    const browser = await signIn()
    expect((await call(browser, '/api/echo/before')).status).toBe(200)
    const cookie = browser.cookie('__Host-bff-session')?.value
    upstream.requests.length = 0
    await stopOurRedis()

    for (const path of ['/api/echo/during', '/auth/user']) {
      const [response, ms] = await timed(() => call(browser, path))
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBeTruthy()
      expect(await response.json()).toMatchObject({ error: 'store_unavailable' })
      expect(response.headers.getSetCookie()).toEqual([])
      // Fails at once instead of waiting out the 1 s command timeout (no offline queue).
      expect(ms).toBeLessThan(500)
    }
    expect(upstream.requests).toHaveLength(0)
    expect((await fetch(`${url}/readyz`)).status).toBe(503)
    expect(browser.cookie('__Host-bff-session')?.value).toBe(cookie)

    await startOurRedis()
    const [, back] = await timed(async () => {
      for (;;) {
        if ((await call(browser, '/auth/user')).status === 200) return
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    })
    // Reconnect backoff is capped at 500 ms; the session survived the restart.
    expect(back).toBeLessThan(1000)
    expect((await call(browser, '/api/echo/after')).status).toBe(200)
  })

  it('answers 503 within the command timeout while Redis is paused, without queueing', async () => {
    const browser = await signIn()
    const client = admin()
    await client.connect()
    await client.client('PAUSE', 4000, 'ALL')
    const [response, ms] = await timed(() => call(browser, '/api/echo/paused'))
    // 503 (a queued command would have waited for the pause to end and then answered 200),
    // after the 1 s command timeout (about 1010 ms here; the bound leaves slack for a loaded machine).
    expect(response.status).toBe(503)
    expect(ms).toBeLessThan(3000)
    await new Promise((resolve) => setTimeout(resolve, 4100 - ms))
    expect((await call(browser, '/api/echo/unpaused')).status).toBe(200)
    await client.quit()
  })

  it('waits out one command timeout at most once Redis is frozen: the circuit answers the rest at once, and a probe lets everything through when it thaws', async () => {
    const browser = await signIn()
    const cookie = browser.cookie('__Host-bff-session')?.value
    const transitionsBefore = logs.filter((l) => l.event === 'circuit.transition').length
    const failedBefore = logs.length
    const client = admin()
    await client.connect()
    const pauseMs = 3000
    const pausedAt = performance.now()
    await client.client('PAUSE', pauseMs, 'ALL')
    // Two store reads on this route used to wait a command timeout each (2 s).
    const [first, firstMs] = await timed(() => call(browser, '/auth/user'))
    expect(first.status).toBe(503)
    expect(firstMs).toBeLessThan(1800)
    const refused: number[] = []
    for (const path of ['/auth/user', '/api/echo/frozen', '/auth/user', '/api/echo/frozen']) {
      const [response, ms] = await timed(() => call(browser, path))
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBeTruthy()
      expect(await response.json()).toMatchObject({ error: 'store_unavailable' })
      expect(response.headers.getSetCookie()).toEqual([])
      refused.push(ms)
    }
    console.log(
      `store frozen: first answer after ${firstMs.toFixed(0)} ms, then ${refused.map((ms) => ms.toFixed(1)).join(', ')} ms`,
    )
    expect(Math.max(...refused)).toBeLessThan(100)
    await new Promise((resolve) => setTimeout(resolve, pauseMs - (performance.now() - pausedAt)))
    const thawedAt = performance.now()
    for (;;) {
      if ((await call(browser, '/auth/user')).status === 200) break
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const backMs = performance.now() - thawedAt
    console.log(`store thawed: served again after ${backMs.toFixed(0)} ms`)
    // The probe interval (500 ms) and, at worst, one probe still caught by the pause (1 s).
    expect(backMs).toBeLessThan(2000)
    expect(browser.cookie('__Host-bff-session')?.value).toBe(cookie)
    // One line per change of state, not one per refused request.
    const transitions = logs
      .filter((l) => l.event === 'circuit.transition')
      .slice(transitionsBefore)
    expect(transitions[0]).toMatchObject({ circuit: 'store', from: 'closed', to: 'open' })
    expect(transitions.at(-1)).toMatchObject({ circuit: 'store', to: 'closed' })
    expect(transitions.length).toBeLessThanOrEqual(12)
    // The refused requests logged nothing at warning level (the circuit logged its opening).
    const refusedLines = logs
      .slice(failedBefore)
      .filter((l) => l.event === 'request.failed' && String(l.detail).includes('circuit open'))
    expect(refusedLines).toEqual([])
    await client.quit()
  })

  it('answers 503 and logs it when the rotated token set cannot be written', async () => {
    const browser = await signIn()
    const client = admin()
    await client.connect()
    // Writes stall the moment the provider answers the refresh: the new token set cannot be stored.
    provider.script.tokenResponse = (defaults) => {
      void client.client('PAUSE', 2500, 'WRITE')
      return defaults
    }
    offset = 400_000
    logs.length = 0
    const response = await call(browser, '/api/echo/refresh')
    delete provider.script.tokenResponse
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({ error: 'store_unavailable' })
    expect(provider.tokenRequests.filter((r) => r.grantType === 'refresh_token')).toHaveLength(1)
    expect(logs.some((l) => l.event === 'request.failed' && l.code === 'store_unavailable')).toBe(
      true,
    )
    await new Promise((resolve) => setTimeout(resolve, 2600))
    await client.quit()
  })

  it('warns at start when Redis may evict sessions', async () => {
    const client = admin()
    await client.connect()
    await client.config('SET', 'maxmemory-policy', 'allkeys-lru')
    logs.length = 0
    await bff.ready()
    expect(
      logs.some((l) => l.event === 'store.configuration' && String(l.msg).includes('allkeys-lru')),
    ).toBe(true)
    await client.config('SET', 'maxmemory-policy', 'noeviction')
    logs.length = 0
    await bff.ready()
    expect(logs.some((l) => l.event === 'store.configuration')).toBe(false)
    await client.quit()
  })
})
