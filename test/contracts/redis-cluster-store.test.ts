import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { dataNodes } from '../../src/session/redis-client.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
import {
  clusterToolingAvailable,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js'
import { until } from '../support/until.js'
import { sessionStoreContract } from './session-store.contract.js'

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
    const store = new RedisSessionStore({
      target: { clusterNodes: cluster.nodes },
      keyPrefix: `flush-${randomId(6)}:`,
    })
    try {
      await store.ping(5000)
      // Load every script on some masters, then make every master forget them: a client that
      // believes they are loaded must still not fail with NOSCRIPT.
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => store.createSession(`a-${i}`, data, 0, 60_000)),
      )
      await Promise.all(dataNodes(store.redis).map((node) => node.script('FLUSH')))
      const created = await Promise.all(
        Array.from({ length: 60 }, (_, i) => store.createSession(`b-${i}`, data, 0, 60_000)),
      )
      expect(created.every(Boolean)).toBe(true)
      const touched = await Promise.all(
        Array.from({ length: 60 }, (_, i) => store.touchSession(`b-${i}`, 1, 60_000)),
      )
      expect(touched).toHaveLength(60)
    } finally {
      await store.close()
    }
  })

  it('spreads sessions over every master (the keys really are sharded)', async () => {
    const store = new RedisSessionStore({
      target: { clusterNodes: cluster.nodes },
      keyPrefix: `spread-${randomId(6)}:`,
    })
    try {
      await store.ping(5000)
      for (let i = 0; i < 30; i++) await store.createSession(`key-${i}`, data, 0, 60_000)
      // The client learns the masters and connects to each one asynchronously; under load
      // that can trail the first commands.
      await until(
        () =>
          dataNodes(store.redis).length === 3 &&
          dataNodes(store.redis).every((node) => node.status === 'ready'),
        'connections to all three masters',
      )
      const perNode = await Promise.all(
        dataNodes(store.redis).map((node) => node.keys(`${store.keyPrefix}session:*`)),
      )
      expect(perNode).toHaveLength(3)
      for (const keys of perNode) expect(keys.length).toBeGreaterThan(0)
    } finally {
      await store.close()
    }
  })

  sessionStoreContract('redis cluster', async () => {
    const store = new RedisSessionStore({
      target: { clusterNodes: cluster.nodes },
      keyPrefix: `cluster-${randomId(6)}:`,
    })
    await store.ping(5000)
    return {
      store,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      residentKeys: async () =>
        (
          await Promise.all(dataNodes(store.redis).map((node) => node.keys(`${store.keyPrefix}*`)))
        ).flat(),
      cleanup: () => store.close(),
    }
  })
})

if (!available) {
  describe('Redis Cluster', () => {
    it.skip('skipped: this redis-cli has no --cluster support, so no test cluster can be created', () => {})
  })
}
