/**
 * Chaos under load: steady traffic through two broker instances while their dependencies
 * fail, one fault at a time. Run: npm run chaos
 *
 * Everything is real and on 127.0.0.1: a redis-server with an append-only file
 * (appendfsync everysec), the dev OpenID provider in its own process, the bench upstream, and
 * two broker processes (compiled src/, sharing Redis, cookie secrets and token key, as behind a
 * load balancer). The load is 50 connections, each a closed loop of GET /api/bench/... for one
 * of 20 signed-in sessions, spread over both instances; a connection that cannot reach an
 * instance marks it down for a second and its request goes to the other (a load balancer's
 * passive health check). The generator is a Node client rather than wrk because every
 * request's start, time and status are needed to split a fault into its phases.
 *
 * Faults, in order:
 *   redis-restart   Redis stopped (SIGTERM) for 5 s, then started again on its AOF
 *   redis-freeze    Redis stopped with SIGSTOP for 5 s (connections stay open, no answers)
 *   provider-freeze the provider stopped with SIGSTOP for 12 s while access tokens (10 s) expire
 *   broker-kill     one of the two brokers killed (SIGKILL), started again 5 s later
 *
 * Per fault: p50 and p99 of requests started during the fault, p99 of those started after
 * its first second, the status mix, the time from the dependency's return to the end of the
 * last non-200 answer (recovery), sessions lost (GET /auth/user no longer 200 afterwards) and
 * answers that cleared the session cookie. Targets: only 200 and 503; p99 during ≤ 1200 ms
 * and after the first second ≤ 100 ms; recovery ≤ 1000 ms; no session lost; no cookie cleared.
 * Exits 1 when an answer is neither 200 nor 503, a session is lost or a cookie cleared.
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import type { DevUsers } from '../demo/provider/create-provider.js'
import { randomId } from '../src/lib/random.js'
import { freePort } from '../test/support/free-port.js'
import { HttpBrowser } from '../test/support/http-browser.js'
import { ping } from '../test/support/redis.js'
import { ensureRedisServer } from '../test/support/system-packages.js'
import { type BenchProcess, killAll, startTarget } from './lib/processes.js'
import { runMain } from './lib/run-main.js'
import type { BrokerTargetSettings } from './targets/broker.js'

const CONNECTIONS = 50
const SESSIONS = 20
const ACCESS_TOKEN_SECONDS = 10
const TARGETS = { p99DuringMs: 1200, p99AfterFirstSecondMs: 100, recoveryMs: 1000 }
const BUILD_DIR = fileURLToPath(new URL('./.build/chaos/', import.meta.url))

interface Sample {
  /** ms since the run began, when the request started */
  at: number
  ms: number
  status: number
  clearedCookie: boolean
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const stoppers: Array<() => Promise<void> | void> = []

/** A redis-server of our own, so it can be stopped, frozen and started on the same files. */
function redisServer(port: number, dir: string) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '']
  args.push('--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir)
  let child = spawn('redis-server', args, { stdio: 'ignore' })
  const ready = async () => {
    while (!(await ping(port))) await sleep(20)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    ready,
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' })
      await ready()
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGCONT')
      child.kill('SIGTERM')
      await exited
    },
    signal: (signal: NodeJS.Signals) => child.kill(signal),
  }
}

/** src/ compiled as `npm run build` ships it, for the broker processes. */
function compileBroker(): string {
  const outDir = join(BUILD_DIR, 'src')
  rmSync(outDir, { recursive: true, force: true })
  const tsc = fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url))
  execFileSync(tsc, ['-p', 'tsconfig.build.json', '--outDir', outDir, '--declaration', 'false'], {
    stdio: 'inherit',
  })
  return outDir
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

/** The closed-loop load over both instances; `samples` fills until `stop()`. */
function startLoad(urls: string[], cookies: string[], startedAt: number) {
  const samples: Sample[] = []
  const down = new Map<string, number>()
  const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 4000 })
  let running = true
  let failovers = 0
  let next = 0
  const pick = (avoid?: string) => {
    const now = performance.now()
    for (let i = 0; i < urls.length; i++) {
      const url = urls[(next++ + i) % urls.length] as string
      if (url !== avoid && (down.get(url) ?? 0) <= now) return url
    }
    return urls.find((u) => u !== avoid) ?? (urls[0] as string)
  }
  const worker = async (w: number) => {
    let n = 0
    while (running) {
      const cookie = cookies[(w + n++) % cookies.length] as string
      const at = performance.now() - startedAt
      let url = pick()
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const response = await request(`${url}/api/bench/chaos/${w}`, {
            dispatcher: agent,
            headers: { cookie, 'x-csrf': '1' },
            headersTimeout: 30_000,
          })
          await response.body.dump()
          const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? [])
          samples.push({
            at,
            ms: performance.now() - startedAt - at,
            status: response.statusCode,
            clearedCookie: setCookie.some((c) => c.startsWith('__Host-bff-session=;')),
          })
          break
        } catch {
          // The instance cannot be reached: mark it down for a second, send it to the other.
          down.set(url, performance.now() + 1000)
          failovers++
          url = pick(url)
          if (attempt === 1)
            samples.push({
              at,
              ms: performance.now() - startedAt - at,
              status: 0,
              clearedCookie: false,
            })
        }
      }
    }
  }
  const workers = Array.from({ length: CONNECTIONS }, (_, w) => worker(w))
  return {
    samples,
    failovers: () => failovers,
    async stop() {
      running = false
      await Promise.all(workers)
      await agent.close()
    },
  }
}

async function sessionsAlive(url: string, cookies: string[]): Promise<number> {
  let alive = 0
  for (const cookie of cookies) {
    const response = await fetch(`${url}/auth/user`, { headers: { cookie } })
    await response.body?.cancel()
    if (response.status === 200) alive++
  }
  return alive
}

interface FaultReport {
  name: string
  line: string
  bad: boolean
  met: boolean
}

function report(
  name: string,
  samples: Sample[],
  window: { from: number; back: number; until: number },
  lost: number,
): FaultReport {
  const during = samples.filter((s) => s.at >= window.from && s.at < window.back)
  const afterFirstSecond = during.filter((s) => s.at >= window.from + 1000)
  const touched = samples.filter((s) => s.at >= window.from && s.at < window.until)
  const statuses = new Map<number, number>()
  for (const s of touched) statuses.set(s.status, (statuses.get(s.status) ?? 0) + 1)
  const lastBad = touched
    .filter((s) => s.status !== 200 && s.at + s.ms >= window.back)
    .reduce((end, s) => Math.max(end, s.at + s.ms), window.back)
  const recovery = lastBad - window.back
  const cleared = touched.filter((s) => s.clearedCookie).length
  const p50 = percentile(
    during.map((s) => s.ms),
    50,
  )
  const p99 = percentile(
    during.map((s) => s.ms),
    99,
  )
  const p99Late = percentile(
    afterFirstSecond.map((s) => s.ms),
    99,
  )
  const mix = [...statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}:${count}`)
    .join(',')
  const bad = [...statuses.keys()].some((s) => s !== 200 && s !== 503) || lost > 0 || cleared > 0
  const met =
    !bad &&
    p99 <= TARGETS.p99DuringMs &&
    (Number.isNaN(p99Late) || p99Late <= TARGETS.p99AfterFirstSecondMs) &&
    recovery <= TARGETS.recoveryMs
  const line =
    `fault=${name} during_p50_ms=${p50.toFixed(1)} during_p99_ms=${p99.toFixed(1)} ` +
    `after_first_second_p99_ms=${p99Late.toFixed(1)} statuses=${mix} recovery_ms=${recovery.toFixed(0)} ` +
    `sessions_lost=${lost} cookies_cleared=${cleared} requests=${touched.length}`
  return { name, line, bad, met }
}

async function main(): Promise<number> {
  ensureRedisServer()
  const dir = mkdtempSync(join(tmpdir(), 'bff-chaos-'))
  stoppers.push(() => rmSync(dir, { recursive: true, force: true }))
  const redis = redisServer(await freePort(), dir)
  stoppers.push(() => redis.stop())
  await redis.ready()

  const brokerPorts = [await freePort(), await freePort()]
  const brokerUrls = brokerPorts.map((port) => `http://127.0.0.1:${port}`)
  const client = { id: 'chaos-broker', secret: `chaos-only-${randomId(24)}` }
  const provider = await startTarget('provider', 'bench/targets/provider.ts', {
    publicHost: 'localhost',
    accessTokenTtlSeconds: ACCESS_TOKEN_SECONDS,
    apiAudience: 'http://chaos-api.test',
    clients: [
      {
        client_id: client.id,
        client_secret: client.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: brokerUrls.map((url) => `${url}/auth/callback`),
        post_logout_redirect_uris: brokerUrls.map((url) => `${url}/auth/signed-out`),
      },
    ],
  })
  stoppers.push(provider.stop)
  const issuer = provider.info.issuer as string
  const users = provider.info.users as DevUsers
  const upstream = await startTarget('upstream', 'bench/targets/upstream.ts', {})
  stoppers.push(upstream.stop)

  const modules = compileBroker()
  const shared = {
    issuer,
    clientId: client.id,
    clientSecret: client.secret,
    redis: { url: redis.url },
    keyPrefix: `chaos-${randomId(4)}:`,
    cookieSecret: `chaos-only-${randomId(24)}`,
    tokenKey: randomBytes(32).toString('base64'),
    upstreamUrl: `http://127.0.0.1:${upstream.info.port as number}`,
    metricsToken: `chaos-only-${randomId(24)}`,
    modules,
    lane: true,
    options: { providerTimeoutSeconds: 1 },
  }
  const startBroker = (i: number) =>
    startTarget(`broker-${i}`, 'bench/targets/broker.ts', {
      ...shared,
      port: brokerPorts[i] as number,
    } satisfies BrokerTargetSettings)
  const brokers: BenchProcess[] = [await startBroker(0), await startBroker(1)]
  stoppers.push(() => Promise.all(brokers.map((b) => b.stop())).then(() => {}))

  const cookies: string[] = []
  const [alice] = Object.entries(users)
  for (let i = 0; i < SESSIONS; i++) {
    const browser = new HttpBrowser()
    const { callbackResponse } = await browser.login({
      brokerUrl: brokerUrls[0] as string,
      username: alice?.[0] ?? 'alice',
      password: alice?.[1].password ?? '',
    })
    if (callbackResponse.status !== 200)
      throw new Error(`sign-in ended with ${callbackResponse.status}`)
    cookies.push(browser.cookieHeaderFor(brokerUrls[0] as string))
  }
  // Let the append-only file catch up with the sign-ins (appendfsync everysec).
  await sleep(1500)

  const startedAt = performance.now()
  const now = () => performance.now() - startedAt
  const load = startLoad(brokerUrls, cookies, startedAt)
  const reports: FaultReport[] = []
  const fault = async (
    name: string,
    inject: () => Promise<void> | void,
    holdMs: number,
    restore: () => Promise<void> | void,
  ) => {
    await sleep(2000)
    const from = now()
    await inject()
    await sleep(holdMs)
    await restore()
    const back = now()
    await sleep(4000)
    const until = now()
    const alive = await sessionsAlive(brokerUrls[0] as string, cookies)
    const r = report(name, load.samples, { from, back, until }, cookies.length - alive)
    console.log(r.line)
    reports.push(r)
  }

  console.log(
    `chaos: ${CONNECTIONS} connections over 2 brokers, ${SESSIONS} sessions, access tokens of ${ACCESS_TOKEN_SECONDS} s, Redis AOF everysec`,
  )
  await fault(
    'redis-restart',
    () => redis.stop(),
    5000,
    () => redis.start(),
  )
  await fault(
    'redis-freeze',
    () => void redis.signal('SIGSTOP'),
    5000,
    () => void redis.signal('SIGCONT'),
  )
  await fault(
    'provider-freeze',
    () => void process.kill(provider.pid, 'SIGSTOP'),
    12_000,
    () => void process.kill(provider.pid, 'SIGCONT'),
  )
  await fault(
    'broker-kill',
    () => void process.kill((brokers[1] as BenchProcess).pid, 'SIGKILL'),
    5000,
    async () => {
      brokers[1] = await startBroker(1)
    },
  )
  await load.stop()
  console.log(
    `load: ${load.samples.length} requests, ${load.failovers()} sent to the other broker after a connection failure`,
  )
  const missed = reports.filter((r) => !r.met).map((r) => r.name)
  console.log(
    `targets: only 200/503, p99 during <= ${TARGETS.p99DuringMs} ms, after the first second <= ${TARGETS.p99AfterFirstSecondMs} ms, recovery <= ${TARGETS.recoveryMs} ms, 0 sessions lost: ${missed.length === 0 ? 'met' : `NOT met for ${missed.join(', ')}`}`,
  )
  return reports.some((r) => r.bad) ? 1 : 0
}

runMain(main, async () => {
  for (const stop of stoppers.reverse()) await Promise.resolve(stop()).catch(() => {})
  killAll()
})
