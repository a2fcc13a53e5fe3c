import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiCallTo, type BrokerCluster, startBrokerCluster } from '../support/broker-cluster.js'

const INSTANCES = 3
const CONCURRENT = 60
const TOKEN_EXPIRED = 10 * 60 * 1000

/*
 * The promise of the product: many tabs on many instances, a provider that rotates refresh
 * tokens and revokes the whole grant when an old one is reused — and exactly one refresh
 * per session per expiry, nobody logged out by a race.
 */
describe('single-flight refresh across three broker instances', { timeout: 120_000 }, () => {
  let cluster: BrokerCluster

  beforeAll(async () => {
    cluster = await startBrokerCluster(INSTANCES)
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  async function storm(cookie: string, requests: number, tag: string) {
    return Promise.all(
      Array.from({ length: requests }, (_, i) => {
        const instance = cluster.instances[i % INSTANCES]
        if (!instance) throw new Error('no instance')
        return apiCallTo(instance, cookie, `/api/demo/${tag}/${i}`).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        }))
      }),
    )
  }

  it(`sends exactly one refresh grant for ${CONCURRENT} concurrent requests, over 20 expiry cycles`, async () => {
    const cookie = await cluster.signIn('alice')
    const before = cluster.provider.counts()
    for (let cycle = 1; cycle <= 20; cycle++) {
      cluster.advance(TOKEN_EXPIRED)
      const results = await storm(cookie, CONCURRENT, `cycle-${cycle}`)
      const failed = results.filter((r) => r.status !== 200)
      expect(failed, `cycle ${cycle}: ${JSON.stringify(failed.slice(0, 3))}`).toEqual([])
      expect(cluster.provider.counts().refreshTokenGrants - before.refreshTokenGrants).toBe(cycle)
    }
    expect(cluster.provider.counts().refreshTokenErrors).toBe(before.refreshTokenErrors)
    // The grant is alive: a further expiry still refreshes fine.
    cluster.advance(TOKEN_EXPIRED)
    expect((await apiCallTo(cluster.instances[0] as never, cookie, '/api/demo/after')).status).toBe(
      200,
    )
  })

  it('sends exactly one refresh grant per session for 100 sessions at once', async () => {
    const cookies: string[] = []
    for (let i = 0; i < 100; i++) cookies.push(await cluster.signIn(i % 2 ? 'alice' : 'bob'))
    const before = cluster.provider.counts()
    cluster.advance(TOKEN_EXPIRED)
    const results = (
      await Promise.all(cookies.map((cookie, i) => storm(cookie, 6, `many-${i}`)))
    ).flat()
    expect(results.filter((r) => r.status !== 200)).toEqual([])
    expect(cluster.provider.counts().refreshTokenGrants - before.refreshTokenGrants).toBe(100)
    expect(cluster.provider.counts().refreshTokenErrors).toBe(before.refreshTokenErrors)
  })
})
