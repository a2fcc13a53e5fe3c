import { describe, expect, it } from 'vitest'
import type { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const PROVIDER_PROBE_MS = 2000
const UPSTREAM_PROBE_MS = 3000
/** Past the scripted provider's 300 s access tokens: every session's token is due. */
const TOKENS_DUE = 400_000

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const startedAt = performance.now()
  const result = await work()
  return [result, performance.now() - startedAt]
}

/*
 * The provider's token endpoint and an upstream fail for real (the scripted provider answers
 * 503, the echo upstream holds its answers); the broker's clock is moved to make tokens due
 * and probes due without sleeping.
 */
describe('circuit breakers', () => {
  let offset = 0
  const t = useScriptedBroker(
    {
      providerCircuitProbeMs: PROVIDER_PROBE_MS,
      upstreamCircuitFailures: 3,
      upstreamCircuitProbeMs: UPSTREAM_PROBE_MS,
    },
    { clock: { now: () => Date.now() + offset } },
    {},
    // The route's own timeout: a held answer is a timeout after 1 s.
    (upstream) => [{ prefix: '/api/slow', upstream, timeoutSeconds: 1 }],
  )
  // Only ever moved forward: a circuit opened at a later time must not look fresh again.

  const refreshCalls = () =>
    t.provider.tokenRequests.filter((r) => r.grantType === 'refresh_token').length

  async function signedIn(count: number): Promise<HttpBrowser[]> {
    const browsers: HttpBrowser[] = []
    for (let i = 0; i < count; i++) {
      const { browser, response } = await t.signIn()
      expect(response.status).toBe(200)
      browsers.push(browser)
    }
    return browsers
  }

  /** `perSession` concurrent calls of each browser, with their status, error and time. */
  function storm(browsers: HttpBrowser[], perSession: number, tag: string) {
    return Promise.all(
      browsers.flatMap((browser, b) =>
        Array.from({ length: perSession }, async (_, i) => {
          const [response, ms] = await timed(() => t.apiCall(browser, `/api/echo/${tag}/${b}/${i}`))
          const body = response.status === 200 ? undefined : await response.json()
          return {
            status: response.status,
            error: (body as { error?: string } | undefined)?.error,
            retryAfter: response.headers.get('retry-after'),
            setCookie: response.headers.getSetCookie(),
            ms,
          }
        }),
      ),
    )
  }

  it('makes one token call per probe interval while the provider fails, answers the rest 503 at once, and refreshes each session once when it is back', async () => {
    offset = 0
    const browsers = await signedIn(20)
    const cookies = browsers.map((b) => b.cookie('__Host-bff-session')?.value)
    t.provider.script.tokenResponse = () => ({ status: 503, body: 'down for maintenance' })
    offset = TOKENS_DUE

    // The first refresh finds the provider down and opens its circuit.
    const first = await t.apiCall(browsers[0] as HttpBrowser, '/api/echo/first')
    expect(first.status).toBe(503)
    expect(await first.json()).toMatchObject({ error: 'provider_unavailable' })
    expect(refreshCalls()).toBe(1)

    // A storm of 60 (20 sessions × 3): not one token call, every answer 503 at once.
    const refused = await storm(browsers, 3, 'open')
    expect(refreshCalls()).toBe(1)
    expect(refused.every((r) => r.status === 503 && r.error === 'provider_unavailable')).toBe(true)
    expect(refused.every((r) => r.retryAfter !== null && r.setCookie.length === 0)).toBe(true)
    const slowest = Math.max(...refused.map((r) => r.ms))
    console.log(`provider circuit open: 60 calls, slowest answer ${slowest.toFixed(1)} ms`)
    expect(slowest).toBeLessThan(1000)

    // Probe due, provider still down: exactly one more token call for the whole storm.
    offset += PROVIDER_PROBE_MS
    const probed = await storm(browsers, 3, 'probe')
    expect(refreshCalls()).toBe(2)
    expect(probed.every((r) => r.status === 503)).toBe(true)

    // Back: the next probe succeeds and closes the circuit; then every session refreshes once.
    t.provider.script.tokenResponse = undefined
    offset += PROVIDER_PROBE_MS
    const [closing] = await storm(browsers.slice(0, 1), 1, 'closing')
    expect(closing?.status).toBe(200)
    const served = await storm(browsers, 3, 'back')
    expect(served.map((r) => r.status)).toEqual(Array(60).fill(200))
    // 2 failed calls, then one refresh per session (coalesced and single-flight).
    expect(refreshCalls()).toBe(2 + 20)
    // No session was lost or cookie replaced on the way.
    expect(browsers.map((b) => b.cookie('__Host-bff-session')?.value)).toEqual(cookies)
  })

  it('uses a still-valid access token while the provider circuit is open', async () => {
    const [browser] = await signedIn(1)
    t.provider.script.tokenResponse = () => ({ status: 502, body: 'bad gateway' })
    // Inside the refresh buffer (60 s) but before expiry (300 s): due, still valid.
    offset += 250_000
    const before = refreshCalls()
    // One after another: without the circuit, each would try the token endpoint again.
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      statuses.push((await t.apiCall(browser as HttpBrowser, `/api/echo/valid/${i}`)).status)
    }
    expect(statuses).toEqual(Array(10).fill(200))
    expect(refreshCalls() - before).toBe(1)
  })

  it("one session's own timeouts never open a route's circuit for everyone", async () => {
    offset += PROVIDER_PROBE_MS
    const [attacker, other] = await signedIn(2)
    t.upstream.handler = (req, res) => {
      if (!req.url?.includes('expensive')) return false
      setTimeout(() => res.end('late'), 1500)
      return true
    }
    // Ten concurrent slow requests of one session: ten timeouts in a row.
    const slow = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        t.apiCall(attacker as HttpBrowser, `/api/slow/expensive/${i}`),
      ),
    )
    expect(slow.map((r) => r.status)).toEqual(Array(10).fill(504))
    const before = t.upstream.requests.length
    const answer = await t.apiCall(other as HttpBrowser, '/api/slow/cheap')
    expect(answer.status).toBe(200)
    expect(t.upstream.requests.length - before).toBe(1)
    delete t.upstream.handler
  })

  it("opens a route's circuit after consecutive timeouts of different sessions: no request reaches the upstream until one probe, which closes it", async () => {
    const browsers = await signedIn(3)
    const call = (browser: HttpBrowser, tag: string) =>
      timed(() => t.apiCall(browser, `/api/slow/${tag}`))
    let held = 0
    t.upstream.handler = (_req, res) => {
      held++
      setTimeout(() => res.end('late'), 1500)
      return true
    }
    for (const [i, browser] of browsers.entries()) {
      const [response] = await call(browser, `timeout-${i}`)
      expect(response.status).toBe(504)
    }
    expect(held).toBe(3)

    const [browser] = browsers as [HttpBrowser]
    const refused = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(browser, `open-${i}`)),
    )
    for (const [response, ms] of refused) {
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBeTruthy()
      expect(await response.json()).toMatchObject({ error: 'upstream_circuit_open' })
      expect(ms).toBeLessThan(500)
    }
    expect(held).toBe(3)
    // Another route's upstream is not affected.
    expect((await t.apiCall(browser, '/api/echo/other')).status).toBe(200)

    // The upstream recovers; after the probe interval, one request goes through and closes it.
    delete t.upstream.handler
    offset += UPSTREAM_PROBE_MS
    const [probe] = await call(browser, 'probe')
    expect(probe.status).toBe(200)
    const after = await Promise.all(
      Array.from({ length: 5 }, (_, i) => call(browser, `after-${i}`)),
    )
    expect(after.map(([r]) => r.status)).toEqual(Array(5).fill(200))
  })

  it('reports each change of state once in metrics, not per refused call', async () => {
    const metrics = await t.broker.bff.metrics.registry.metrics()
    expect(metrics).toMatch(/bff_circuit_transitions_total\{circuit="provider",to="open"\} [1-9]/)
    expect(metrics).toMatch(
      /bff_circuit_transitions_total\{circuit="upstream:\/api\/slow",to="open"\} 1/,
    )
    expect(metrics).toMatch(/bff_circuit_state\{circuit="upstream:\/api\/slow"\} 0/)
  })
})
