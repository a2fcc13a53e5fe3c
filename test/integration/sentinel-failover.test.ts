import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/session/redis-store.js'
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
      {
        store: new RedisSessionStore({
          target: { sentinels: set.sentinels, sentinelName: set.masterName },
          keyPrefix: `failover-${randomId(6)}:`,
        }),
      },
    )
  }, 60_000)
  afterAll(async () => {
    await broker?.stop()
    await upstream?.stop()
    await provider?.stop()
    await set?.stop()
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
