import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBff } from '../../src/app.js'
import { randomId } from '../../src/lib/random.js'
import { createLogger } from '../../src/observability/logger.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { laneCount } from '../support/api-lane.js'
import {
  changeFeedLive,
  reserveBrokerUrl,
  startBroker,
  type TestBroker,
  testCookieSecrets,
  testTokenKeys,
} from '../support/broker.js'
import { type EchoUpstream, startEchoUpstream } from '../support/echo-upstream.js'
import { freePort } from '../support/free-port.js'
import { HttpBrowser } from '../support/http-browser.js'
import { rawRequest } from '../support/raw-request.js'
import {
  clusterToolingAvailable,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js'
import { type ScriptedProvider, startScriptedProvider } from '../support/scripted-provider.js'
import { until } from '../support/until.js'

/* The broker configured like production on a Cluster: REDIS_CLUSTER_NODES, nothing else. */
describe.skipIf(!clusterToolingAvailable())('the broker on a Redis Cluster', () => {
  let cluster: TestRedisCluster
  let provider: ScriptedProvider
  let upstream: EchoUpstream
  let url: string
  let offset = 0
  let stop: () => Promise<void>

  beforeAll(async () => {
    cluster = await startRedisCluster()
    provider = await startScriptedProvider({ clientId: 'cluster-client' })
    upstream = await startEchoUpstream()
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    const bff = createBff(
      {
        publicUrl: url,
        issuer: provider.issuer,
        clientId: 'cluster-client',
        clientSecret: 's',
        dangerouslyAllowHttpIssuer: true,
        cookieSecrets: [{ id: 1, secret: `test-only-${randomId(24)}` }],
        redisClusterNodes: cluster.nodes,
        redisKeyPrefix: `broker-${randomId(4)}:`,
        apiRoutes: [{ prefix: '/api/echo', upstream: upstream.url }],
      },
      { logger: createLogger('silent'), clock: { now: () => Date.now() + offset } },
    )
    await bff.ready()
    const server = createServer(bff.nodeListener()).listen(port, '127.0.0.1')
    stop = async () => {
      server.close()
      await bff.close()
    }
  })
  afterAll(async () => {
    await stop?.()
    await upstream?.stop()
    await provider?.stop()
    await cluster?.stop()
  })

  it('signs in, proxies, refreshes under the lock and signs out', async () => {
    const browser = new HttpBrowser()
    expect((await browser.follow(`${url}/auth/login`, { initiator: url })).status).toBe(200)
    const call = (path: string) =>
      browser.request(`${url}${path}`, {
        kind: 'fetch',
        initiator: url,
        headers: { 'x-csrf': '1' },
      })
    expect((await call('/api/echo/a')).status).toBe(200)
    offset = 400_000
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => call(`/api/echo/b${i}`)))
    expect(burst.map((r) => r.status)).toEqual(Array(10).fill(200))
    expect(provider.tokenRequests.filter((r) => r.grantType === 'refresh_token')).toHaveLength(1)
    offset = 0
    const logout = await browser.request(`${url}/auth/logout`, { method: 'POST', initiator: url })
    expect(logout.status).toBe(200)
    expect((await call('/auth/user')).status).toBe(401)
  })
})

/* Two instances on one Cluster: the per-instance session cache, and its change feed. */
describe.skipIf(!clusterToolingAvailable())('the session cache on a Redis Cluster', () => {
  let cluster: TestRedisCluster
  let provider: ScriptedProvider
  let upstream: EchoUpstream
  const brokers: TestBroker[] = []

  beforeAll(async () => {
    cluster = await startRedisCluster()
    provider = await startScriptedProvider({ clientId: 'cluster-client' })
    upstream = await startEchoUpstream()
    const keyPrefix = `cache-${randomId(4)}:`
    const shared = {
      issuer: provider.issuer,
      clientId: 'cluster-client',
      clientSecret: 's',
      cookieSecrets: testCookieSecrets(),
      tokenEncryptionKeys: testTokenKeys(),
      apiRoutes: [{ prefix: '/api/echo', upstream: upstream.url }],
    }
    for (let i = 0; i < 2; i++) {
      const store = new RedisSessionStore({ target: { clusterNodes: cluster.nodes }, keyPrefix })
      brokers.push(await startBroker(await reserveBrokerUrl(), shared, { store }))
    }
    for (const broker of brokers) await changeFeedLive(broker)
  })
  afterAll(async () => {
    for (const broker of brokers) await broker.stop()
    await upstream?.stop()
    await provider?.stop()
    await cluster?.stop()
  })

  it('serves a warm session from memory (the lane), and a logout on the other instance ends it there at once', async () => {
    const [a, b] = brokers as [TestBroker, TestBroker]
    const browser = new HttpBrowser()
    await browser.follow(`${a.url}/auth/login`, { initiator: a.url })
    const cookie = browser.cookieHeaderFor(a.url)
    const call = () => rawRequest(b.url, '/api/echo/x', { cookie, 'x-csrf': '1' })
    expect((await call()).status).toBe(200)
    const before = await laneCount(b)
    expect((await call()).status).toBe(200)
    expect(await laneCount(b)).toBe(before + 1)
    const logout = await browser.request(`${a.url}/auth/logout`, {
      method: 'POST',
      initiator: a.url,
    })
    expect(logout.status).toBeLessThan(400)
    // No wait: the delete and its announcement reached B's cache before A answered.
    expect((await call()).status).toBe(401)
  })

  it('turns the feed off within the heartbeat deadline when one master stops delivering', async () => {
    const b = brokers[1] as TestBroker
    const feed = b.store.changes()
    expect(feed?.live).toBe(true)
    const [paused = ''] = cluster.nodes.slice(-1)
    const [host = '', port = ''] = paused.split(':')
    const admin = new Redis({ host, port: Number(port), lazyConnect: true })
    try {
      await admin.connect()
      const started = Date.now()
      await admin.call('CLIENT', 'PAUSE', '2500', 'ALL')
      await until(() => feed?.live === false, 'the feed to go off', 2000)
      console.log(`cluster feed off ${Date.now() - started} ms after one master paused`)
      await until(() => feed?.live === true, 'the feed back on', 5000)
    } finally {
      admin.disconnect()
    }
  })
})
