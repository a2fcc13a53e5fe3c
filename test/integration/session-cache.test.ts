import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import type { BffMetrics } from '../../src/observability/metrics.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import {
  reserveBrokerUrl,
  startBroker,
  storedSessionOf,
  type TestBroker,
  testCookieSecrets,
  testTokenKeys,
} from '../support/broker.js'
import { type EchoUpstream, startEchoUpstream } from '../support/echo-upstream.js'
import { HttpBrowser } from '../support/http-browser.js'
import { startTestProvider, type TestProvider } from '../support/provider.js'
import { startRedis, type TestRedis } from '../support/redis.js'
import { until } from '../support/until.js'

const CACHE_SECONDS = 30

async function cacheLookups(metrics: BffMetrics, result: 'hit' | 'miss' | 'off') {
  const { values } = await metrics.sessionCache.get()
  return values.find((v) => v.labels.result === result)?.value ?? 0
}

async function laneRequests(metrics: BffMetrics) {
  return (await metrics.proxyLane.get()).values[0]?.value ?? 0
}

/*
 * The per-instance session cache against real parts: two broker instances sharing one Redis
 * key prefix (as behind a load balancer), each with its own connections and its own cache,
 * a real oidc-provider and an upstream that records the bearer it receives. The Redis is this
 * file's own redis-server: the tests pause it and kill its subscriber connections, which
 * must not reach other test files. Every test warms the cache of instance two first and
 * proves it (hit counter), then changes the session through instance one, another process's
 * store, or behind the broker's back.
 */
describe('session cache across two broker instances', () => {
  let provider: TestProvider
  let upstream: EchoUpstream
  let one: TestBroker
  let two: TestBroker
  let admin: Redis
  let redis: TestRedis
  let oneOffset = 0
  let twoOffset = 0
  const prefix = `cache-${randomId(6)}:`
  const newStore = () => new RedisSessionStore({ url: redis.url, keyPrefix: prefix })

  beforeAll(async () => {
    redis = await startRedis()
    const publicAddress = await reserveBrokerUrl()
    const secondAddress = await reserveBrokerUrl()
    upstream = await startEchoUpstream()
    provider = await startTestProvider({ redirectUri: `${publicAddress.url}/auth/callback` })
    const options = {
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      cookieSecrets: testCookieSecrets(),
      tokenEncryptionKeys: testTokenKeys(),
      publicUrl: publicAddress.url,
      apiRoutes: [{ prefix: '/api/echo', upstream: upstream.url }],
      sessionCacheSeconds: CACHE_SECONDS,
    }
    one = await startBroker(publicAddress, options, {
      store: newStore(),
      clock: { now: () => Date.now() + oneOffset },
    })
    two = await startBroker(secondAddress, options, {
      store: newStore(),
      clock: { now: () => Date.now() + twoOffset },
    })
    admin = new Redis(redis.url)
    await until(() => Boolean(two.store.changes()?.live), 'the change feed of instance two')
  })

  afterAll(async () => {
    admin?.disconnect()
    await two?.stop()
    await one?.stop()
    await provider?.stop()
    await upstream?.stop()
    await redis?.stop()
  })

  async function signIn() {
    const browser = new HttpBrowser()
    const user = provider.users.alice
    if (!user) throw new Error('no dev user alice')
    await browser.login({ brokerUrl: one.url, username: 'alice', password: user.password })
    return browser
  }

  /** An API call through one instance; the cookie is the same for both (one public URL). */
  const call = (browser: HttpBrowser, broker: TestBroker, path = '/api/echo/data') =>
    browser.request(`${broker.url}${path}`, {
      kind: 'fetch',
      initiator: one.url,
      headers: { 'x-csrf': '1' },
    })

  /** Signs in and makes instance two answer the session from memory (proven by a cache hit). */
  async function warmSession() {
    const browser = await signIn()
    expect((await call(browser, two)).status).toBe(200)
    const hits = await cacheLookups(two.bff.metrics, 'hit')
    const lane = await laneRequests(two.bff.metrics)
    expect((await call(browser, two)).status).toBe(200)
    expect(await cacheLookups(two.bff.metrics, 'hit')).toBe(hits + 1)
    // Served by instance two's node-level /api lane, the path the replays below would take.
    expect(await laneRequests(two.bff.metrics)).toBe(lane + 1)
    const { key } = await storedSessionOf(one, browser.cookie('__Host-bff-session')?.value)
    return { browser, key }
  }

  it('serves a warm session from memory: no store read for the session', async () => {
    const { browser } = await warmSession()
    const reads = two.bff.metrics.storeDuration
    const before = (await reads.get()).values.find(
      (v) => v.labels.operation === 'getSession' && v.metricName?.endsWith('_count'),
    )?.value
    expect((await call(browser, two)).status).toBe(200)
    const after = (await reads.get()).values.find(
      (v) => v.labels.operation === 'getSession' && v.metricName?.endsWith('_count'),
    )?.value
    expect(after).toBe(before)
  })

  it('a sign-out through one instance ends the warm session on the other at once (20 rounds, no waiting)', async () => {
    for (let round = 0; round < 20; round++) {
      const { browser, key } = await warmSession()
      const stolen = browser.cookie('__Host-bff-session')?.value
      const logout = await browser.request(`${one.url}/auth/logout`, {
        method: 'POST',
        initiator: one.url,
      })
      expect(logout.status).toBe(200)
      // The cookie as it was before sign-out (a copy an attacker kept), straight to instance two.
      const replay = await fetch(`${two.url}/api/echo/after-logout`, {
        headers: { cookie: `__Host-bff-session=${stolen}`, 'x-csrf': '1' },
      })
      expect(replay.status).toBe(401)
      expect(await one.store.getSession(key)).toBeNull()
    }
    expect(upstream.requests.some((r) => r.url.includes('after-logout'))).toBe(false)
  })

  it('revocation from another process (what the sessions CLI runs) ends the warm session on every instance at once', async () => {
    const { browser, key } = await warmSession()
    const operator = newStore()
    try {
      await operator.ping()
      expect(await operator.deleteSessions([key])).toHaveLength(1)
    } finally {
      await operator.close()
    }
    expect((await call(browser, two)).status).toBe(401)
    expect((await call(browser, one)).status).toBe(401)
  })

  it('a refresh by one instance reaches the other’s cache: it forwards the new access token, not its remembered one', async () => {
    const { browser } = await warmSession()
    upstream.requests.length = 0
    expect((await call(browser, two, '/api/echo/old')).status).toBe(200)
    const oldBearer = upstream.requests.at(-1)?.headers.authorization
    // Only instance one sees the token as due; to instance two it is still fresh.
    oneOffset = 45_000
    try {
      expect((await call(browser, one, '/api/echo/refreshed')).status).toBe(200)
    } finally {
      oneOffset = 0
    }
    const newBearer = upstream.requests.at(-1)?.headers.authorization
    expect(newBearer).toBeTruthy()
    expect(newBearer).not.toBe(oldBearer)
    expect((await call(browser, two, '/api/echo/after')).status).toBe(200)
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(newBearer)
  })

  it('a session deleted behind the broker’s back (raw DEL, no announcement) is served from memory for at most SESSION_CACHE_SECONDS', async () => {
    const { browser, key } = await warmSession()
    await admin.del(one.store.redisKeyOfSession(key))
    expect((await call(browser, two)).status).toBe(200)
    twoOffset = CACHE_SECONDS * 1000
    try {
      expect((await call(browser, two)).status).toBe(401)
    } finally {
      twoOffset = 0
    }
  })

  it('a lost subscriber connection empties the cache: changes it may have missed are not served', async () => {
    const { browser, key } = await warmSession()
    const subscribers = async () =>
      String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
        .split('\n')
        .filter(Boolean).length
    const before = await subscribers()
    expect(before).toBeGreaterThanOrEqual(2)
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    // Both instances reconnect and subscribe again; the feed is live again.
    await until(async () => (await subscribers()) === before, 'the subscribers to reconnect')
    await until(() => Boolean(two.store.changes()?.live), 'the feed of instance two')
    // Deleted with no announcement: only a cache that forgot everything on the disconnect
    // reads the store and finds the session gone.
    await admin.del(one.store.redisKeyOfSession(key))
    expect((await call(browser, two)).status).toBe(401)
  })

  it('a stalled Redis turns the cache off within the heartbeat deadline: 503 from the store, never a stale answer', async () => {
    const { browser } = await warmSession()
    const pauser = new Redis(redis.url)
    try {
      const pausedAt = Date.now()
      await pauser.client('PAUSE', 3000, 'ALL')
      await until(() => !two.store.changes()?.live, 'the feed to go stale', 2000)
      // The heartbeat deadline is 1 s: the feed went stale well before the pause ends.
      expect(Date.now() - pausedAt).toBeLessThan(1500)
      const response = await call(browser, two)
      expect(response.status).toBe(503)
      expect(await response.json()).toMatchObject({ error: 'store_unavailable' })
      expect(await cacheLookups(two.bff.metrics, 'off')).toBeGreaterThan(0)
      await until(() => Boolean(two.store.changes()?.live), 'the feed after the pause', 5000)
      // The store's circuit opened on the 503; its next probe (within 500 ms) serves again.
      await until(
        async () => (await call(browser, two)).status === 200,
        'an answer from the store after its circuit probe',
        2000,
      )
    } finally {
      pauser.disconnect()
    }
  })
})
