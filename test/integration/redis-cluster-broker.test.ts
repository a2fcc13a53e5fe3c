import { createServer } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBff } from '../../src/app.js'
import { randomId } from '../../src/lib/random.js'
import { createLogger } from '../../src/observability/logger.js'
import { type EchoUpstream, startEchoUpstream } from '../support/echo-upstream.js'
import { freePort } from '../support/free-port.js'
import { HttpBrowser } from '../support/http-browser.js'
import {
  clusterToolingAvailable,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js'
import { type ScriptedProvider, startScriptedProvider } from '../support/scripted-provider.js'

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
