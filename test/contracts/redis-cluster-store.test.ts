import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { dataNodes } from '../../src/session/redis-client.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
import {
  clusterToolingAvailable,
  startRedisCluster,
  type TestRedisCluster,
} from '../support/redis-cluster.js'
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

  it('spreads sessions over every master (the keys really are sharded)', async () => {
    const store = new RedisSessionStore({
      target: { clusterNodes: cluster.nodes },
      keyPrefix: `spread-${randomId(6)}:`,
    })
    try {
      await store.ping(5000)
      const data = {
        iss: 'i',
        sub: 's',
        claims: {},
        tokens: { accessToken: 'a', tokenType: 'Bearer', accessTokenExpiresAt: 1, obtainedAt: 0 },
        createdAt: 0,
        absoluteExpiresAt: 2e12,
      }
      for (let i = 0; i < 30; i++) await store.createSession(`key-${i}`, data, 0, 60_000)
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
