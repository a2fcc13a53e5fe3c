import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { reserveBrokerUrl, startBroker, type TestBroker } from '../support/broker.js'
import { type EchoUpstream, startEchoUpstream } from '../support/echo-upstream.js'
import { HttpBrowser } from '../support/http-browser.js'
import { startSentinelSet, type TestSentinelSet } from '../support/redis-sentinel.js'
import { type ScriptedProvider, startScriptedProvider } from '../support/scripted-provider.js'

const SESSIONS = 10
const WORKERS = 10

/*
 * A real Sentinel set (primary, replica, three sentinels): the primary is killed under load.
 * The broker must follow the promoted replica by itself, answer only 200 or 503 meanwhile,
 * and keep every session that was written (and replicated) before.
 */
describe('Redis Sentinel failover under load', () => {
  let set: TestSentinelSet
  let provider: ScriptedProvider
  let upstream: EchoUpstream
  let broker: TestBroker

  beforeAll(async () => {
    set = await startSentinelSet()
    provider = await startScriptedProvider({ clientId: 'failover' })
    upstream = await startEchoUpstream()
    broker = await startBroker(
      await reserveBrokerUrl(),
      {
        issuer: provider.issuer,
        clientId: 'failover',
        clientSecret: 's',
        apiRoutes: [{ prefix: '/api/echo', upstream: upstream.url }],
        rateLimitApi: null,
      },
      { store: sentinelStore(1) },
    )
  }, 60_000)
  afterAll(async () => {
    await broker?.stop()
    await upstream?.stop()
    await provider?.stop()
    await set?.stop()
  })

  function sentinelStore(waitReplicas: number) {
    return new RedisSessionStore({
      target: { sentinels: set.sentinels, sentinelName: set.masterName },
      keyPrefix: `failover-${randomId(6)}:`,
      waitReplicas,
    })
  }

  /** Blocks the replica for `ms` (DEBUG SLEEP): it confirms nothing meanwhile. */
  async function stallReplica(ms: number): Promise<void> {
    const port = await set.replicaPort()
    const client = new Redis({ port, host: '127.0.0.1' })
    void client
      .call('DEBUG', 'SLEEP', String(ms / 1000))
      .catch(() => {})
      .finally(() => client.disconnect())
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  it('grants a refresh lock, and accepts a session write, only once the replica has it (REDIS_WAIT_REPLICAS=1)', async () => {
    const durable = sentinelStore(1)
    const plain = sentinelStore(0)
    await durable.ping(5000)
    await plain.ping(5000)
    try {
      const timedAcquire = async (store: RedisSessionStore, name: string) => {
        const startedAt = performance.now()
        const token = await store.acquireLock(name, 10_000)
        return { token, ms: performance.now() - startedAt }
      }
      // The cost of waiting for the replica, healthy: a median of 50 acquisitions each.
      const median = async (store: RedisSessionStore, tag: string) => {
        const times: number[] = []
        for (let i = 0; i < 50; i++) times.push((await timedAcquire(store, `${tag}-${i}`)).ms)
        return times.sort((a, b) => a - b)[25] as number
      }
      const withWait = await median(durable, 'cost-wait')
      const withoutWait = await median(plain, 'cost-plain')
      console.log(
        `lock acquisition, median of 50: ${withWait.toFixed(2)} ms confirmed by the replica, ${withoutWait.toFixed(2)} ms without`,
      )

      await stallReplica(1500)
      // Not confirmed within the wait (half the 1 s command timeout): not granted, and given back.
      const refused = await timedAcquire(durable, 'stalled')
      expect(refused.token).toBeNull()
      expect(refused.ms).toBeLessThan(1000)
      const record = { sub: 'u', iss: 'i', claims: {}, tokens: { accessToken: 'a', expiresAt: 1 } }
      await expect(
        durable.createSession(`stalled-${randomId(8)}`, record as never, Date.now(), 60_000),
      ).rejects.toThrow(/not confirmed by 1 replica/)
      // What a store that does not wait would have done: granted it, on the primary alone.
      expect(await plain.acquireLock('stalled-plain', 10_000)).not.toBeNull()
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(await durable.acquireLock('stalled', 10_000)).not.toBeNull()
    } finally {
      await durable.close()
      await plain.close()
    }
  })

  it('follows the promoted replica without a restart: only 200 and 503, no session lost', async () => {
    const browsers: HttpBrowser[] = []
    for (let i = 0; i < SESSIONS; i++) {
      const browser = new HttpBrowser()
      const response = await browser.follow(`${broker.url}/auth/login`, { initiator: broker.url })
      expect(response.status).toBe(200)
      browsers.push(browser)
    }
    // Replication is asynchronous: give the replica the sign-ins before the primary dies.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const before = await set.primaryPort()

    const samples: Array<{ at: number; status: number }> = []
    const startedAt = performance.now()
    let running = true
    const workers = Array.from({ length: WORKERS }, async (_, w) => {
      for (let n = 0; running; n++) {
        const browser = browsers[(w + n) % browsers.length] as HttpBrowser
        const at = performance.now() - startedAt
        const response = await browser.request(`${broker.url}/api/echo/failover/${w}`, {
          kind: 'fetch',
          initiator: broker.url,
          headers: { 'x-csrf': '1' },
        })
        await response.body?.cancel()
        samples.push({ at, status: response.status })
        if (response.status !== 200) await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const killedAt = performance.now() - startedAt
    await set.killPrimary()
    // Until the promoted primary serves: 200 again for a whole second.
    const deadline = performance.now() + 30_000
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      const now = performance.now() - startedAt
      const recent = samples.filter((s) => s.at > now - 1000 && s.at > killedAt + 1000)
      if (recent.length > 20 && recent.every((s) => s.status === 200)) break
      if (performance.now() > deadline) break
    }
    running = false
    await Promise.all(workers)

    const after = samples.filter((s) => s.at >= killedAt)
    const failed = after.filter((s) => s.status !== 200)
    const statuses = [...new Set(after.map((s) => s.status))].sort()
    const window = failed.length === 0 ? 0 : Math.max(...failed.map((s) => s.at)) - killedAt
    console.log(
      `sentinel failover: primary ${before} killed; ${failed.length} of ${after.length} answers not 200 (statuses ${statuses.join(',')}), the last ${window.toFixed(0)} ms after the kill; now primary ${await set.primaryPort()}`,
    )
    expect(await set.primaryPort()).not.toBe(before)
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true)
    // Sentinel marks the primary down after 1 s and promotes the replica a moment later.
    expect(window).toBeLessThan(10_000)

    let alive = 0
    for (const browser of browsers) {
      const response = await browser.request(`${broker.url}/auth/user`, {
        kind: 'fetch',
        initiator: broker.url,
      })
      if (response.status === 200) alive++
    }
    expect(alive).toBe(SESSIONS)
  }, 60_000)
})
