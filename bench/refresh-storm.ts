/**
 * Refresh storm: N sessions × M concurrent API requests spread over K broker instances,
 * all sent the moment every access token is due. Real oidc-provider (refresh-token
 * rotation, reuse revokes the grant), real Redis, real sockets.
 *
 * Baseline, in the same run: the same storm while the tokens are still fresh, so the
 * latency cost of refreshing under the lock is read side by side.
 *
 *   npm run bench:refresh            (N=100 M=60 K=3)
 *   BENCH_SESSIONS=20 BENCH_CONCURRENCY=30 BENCH_INSTANCES=2 npm run bench:refresh
 */
import http from 'node:http'
import { startDemoApi } from '../demo/api/create-demo-api.js'
import { createBff } from '../src/app.js'
import { randomId } from '../src/lib/random.js'
import { createLogger } from '../src/observability/logger.js'
import { RedisSessionStore } from '../src/store/redis-session-store.js'
import { freePort } from '../test/support/free-port.js'
import { HttpBrowser } from '../test/support/http-browser.js'
import { startTestProvider } from '../test/support/provider.js'
import { startRedis } from '../test/support/redis.js'
import { ensureRedisServer } from '../test/support/system-packages.js'

const N = Number(process.env.BENCH_SESSIONS ?? 100)
const M = Number(process.env.BENCH_CONCURRENCY ?? 60)
const K = Number(process.env.BENCH_INSTANCES ?? 3)
/** Past the 15-minute tokens, inside the 30-minute idle timeout. */
const TOKEN_DUE_MS = 20 * 60 * 1000

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 })

function get(url: string, cookie: string): Promise<{ status: number; ms: number }> {
  const startedAt = performance.now()
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers: { cookie, 'x-csrf': '1' } }, (res) => {
      res.resume()
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, ms: performance.now() - startedAt }),
      )
    })
    req.on('error', () => resolve({ status: 0, ms: performance.now() - startedAt }))
  })
}

async function main() {
  ensureRedisServer()
  const redis = await startRedis()
  const ports = await Promise.all(Array.from({ length: K }, () => freePort()))
  const urls = ports.map((port) => `http://127.0.0.1:${port}`)
  const publicUrl = urls[0] as string
  const provider = await startTestProvider({
    publicHost: 'localhost',
    redirectUri: `${publicUrl}/auth/callback`,
    apiAudience: 'http://bench-api.test',
    // Long-lived tokens: only the clock jump below makes them due, so the baseline stays fresh.
    accessTokenTtlSeconds: 900,
  })
  const api = await startDemoApi({
    issuer: provider.issuer,
    jwksUri: provider.jwksUri,
    audience: 'http://bench-api.test',
  })
  let offset = 0
  const outcomes: Record<string, number> = {}
  const cookieSecrets = [{ id: 1, secret: `bench-only-${randomId(24)}` }]
  const keyPrefix = `bench-${randomId(4)}:`
  const servers = ports.map((port) => {
    const bff = createBff(
      {
        publicUrl,
        issuer: provider.issuer,
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        dangerouslyAllowHttpIssuer: true,
        cookieSecrets,
        apiRoutes: [{ prefix: '/api/demo', upstream: api.url }],
      },
      {
        logger: createLogger('silent'),
        clock: { now: () => Date.now() + offset },
        store: new RedisSessionStore({ url: redis.url, keyPrefix }),
        refreshMetrics: {
          outcome: (o) => {
            outcomes[o] = (outcomes[o] ?? 0) + 1
          },
          lockWaitMs: () => {},
        },
      },
    )
    return { bff, server: http.createServer(bff.nodeListener()).listen(port, '127.0.0.1') }
  })
  await Promise.all(servers.map((s) => s.bff.ready()))

  const cookies: string[] = []
  for (let i = 0; i < N; i++) {
    const browser = new HttpBrowser()
    const username = i % 2 ? 'alice' : 'bob'
    const { callbackResponse } = await browser.login({
      brokerUrl: publicUrl,
      username,
      password: provider.users[username]?.password ?? '',
    })
    if (callbackResponse.status !== 200)
      throw new Error(`login ${i} failed with ${callbackResponse.status}`)
    cookies.push(browser.cookieHeaderFor(publicUrl))
  }

  async function storm(label: string) {
    const startedAt = performance.now()
    const results = await Promise.all(
      cookies.flatMap((cookie, s) =>
        Array.from({ length: M }, (_, r) =>
          get(`${urls[(s + r) % K]}/api/demo/${label}/${s}/${r}`, cookie),
        ),
      ),
    )
    const latencies = results.map((r) => r.ms).sort((a, b) => a - b)
    const failures: Record<number, number> = {}
    for (const r of results)
      if (r.status !== 200) failures[r.status] = (failures[r.status] ?? 0) + 1
    return {
      failures,
      failed: results.filter((r) => r.status !== 200).length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      seconds: (performance.now() - startedAt) / 1000,
    }
  }

  // Warm-up (JIT, connection pools) so the baseline measures steady state, not first use.
  await storm('warm-up')
  const baseline = await storm('fresh')
  const grantsBefore = provider.counts().refreshTokenGrants
  const errorsBefore = provider.counts().refreshTokenErrors
  offset += TOKEN_DUE_MS
  const expiry = await storm('expired')
  const grants = provider.counts().refreshTokenGrants - grantsBefore
  const refreshErrors = provider.counts().refreshTokenErrors - errorsBefore

  console.log(
    `sessions=${N} concurrent_per_session=${M} instances=${K} requests_per_storm=${N * M}`,
  )
  console.log(
    `baseline_fresh_tokens p50_ms=${baseline.p50.toFixed(1)} p99_ms=${baseline.p99.toFixed(1)} failed=${baseline.failed} ${JSON.stringify(baseline.failures)} seconds=${baseline.seconds.toFixed(2)}`,
  )
  console.log(
    `expiry_storm p50_ms=${expiry.p50.toFixed(1)} p99_ms=${expiry.p99.toFixed(1)} failed=${expiry.failed} ${JSON.stringify(expiry.failures)} seconds=${expiry.seconds.toFixed(2)}`,
  )
  console.log(`provider_refresh_grants=${grants} provider_refresh_errors=${refreshErrors}`)
  console.log(`broker_refresh_outcomes=${JSON.stringify(outcomes)}`)
  console.log(
    `refresh_calls_per_session=${(grants / N).toFixed(2)} requests_failed=${expiry.failed + baseline.failed} p99_ms=${Math.round(expiry.p99)}`,
  )

  agent.destroy()
  for (const { bff, server } of servers) {
    server.close()
    await bff.close()
  }
  await api.stop()
  await provider.stop()
  await redis.stop()
  process.exitCode = grants === N && expiry.failed === 0 && baseline.failed === 0 ? 0 : 1
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
