import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { dataNodes } from '../../src/store/redis-client.js'
import { createRedisStores } from '../../src/store/redis-stores.js'
import {
  clusterToolingAvailable,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js'
import { until } from '../support/until.js'
import { storeSetContract } from './store-set.contract.js'

const available = clusterToolingAvailable()

describe.skipIf(!available)('Redis Cluster (3 masters)', () => {
  let cluster: TestRedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster()
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  const data = {
    iss: 'i',
    sub: 's',
    claims: {},
    tokens: { accessToken: 'a', tokenType: 'Bearer', accessTokenExpiresAt: 1, obtainedAt: 0 },
    createdAt: 0,
    absoluteExpiresAt: 2e12,
  }

  it('runs its Lua scripts on every master even when the masters lost them (SCRIPT FLUSH), under concurrency', async () => {
    const stores = createRedisStores({
      target: { clusterNodes: cluster.nodes },
      keyPrefix: `flush-${randomId(6)}:`,
    })
    const { sessions, connections } = stores
    try {
      await stores.ping(5000)
      // Load every script on some masters, then make every master forget them: a client that
      // believes they are loaded must still not fail with NOSCRIPT.
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => sessions.createSession(`a-${i}`, data, 0, 60_000)),
      )
      await Promise.all(dataNodes(connections.redis).map((node) => node.script('FLUSH')))
      const created = await Promise.all(
        Array.from({ length: 60 }, (_, i) => sessions.createSession(`b-${i}`, data, 0, 60_000)),
      )
      expect(created.every(Boolean)).toBe(true)
      const touched = await Promise.all(
        Array.from({ length: 60 }, (_, i) => sessions.touchSession(`b-${i}`, 1, 60_000)),
      )
      expect(touched).toHaveLength(60)
    } finally {
      await stores.close()
    }
  })

  it('spreads sessions over every master (the keys really are sharded)', async () => {
    const stores = createRedisStores({
      target: { clusterNodes: cluster.nodes },
      keyPrefix: `spread-${randomId(6)}:`,
    })
    const { sessions, connections } = stores
    try {
      await stores.ping(5000)
      for (let i = 0; i < 30; i++) await sessions.createSession(`key-${i}`, data, 0, 60_000)
      // The client learns the masters and connects to each one asynchronously; under load
      // that can trail the first commands.
      await until(
        () =>
          dataNodes(connections.redis).length === 3 &&
          dataNodes(connections.redis).every((node) => node.status === 'ready'),
        'connections to all three masters',
      )
      const perNode = await Promise.all(
        dataNodes(connections.redis).map((node) => node.keys(`${connections.keyPrefix}session:*`)),
      )
      expect(perNode).toHaveLength(3)
      for (const keys of perNode) expect(keys.length).toBeGreaterThan(0)
    } finally {
      await stores.close()
    }
  })

  storeSetContract('redis cluster', async () => {
    const stores = createRedisStores({
      target: { clusterNodes: cluster.nodes },
      keyPrefix: `cluster-${randomId(6)}:`,
    })
    await stores.ping(5000)
    const { redis, keyPrefix } = stores.connections
    return {
      stores,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      residentKeys: async () =>
        (await Promise.all(dataNodes(redis).map((node) => node.keys(`${keyPrefix}*`)))).flat(),
      cleanup: () => stores.close(),
    }
  })
})

if (!available) {
  describe('Redis Cluster', () => {
    it.skip('skipped: this redis-cli has no --cluster support, so no test cluster can be created', () => {})
  })
}
