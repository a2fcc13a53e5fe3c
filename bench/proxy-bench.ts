/**
 * Proxy benchmark: the broker's hot path side by side with a bare undici proxy (the limit
 * for a Node hop), a bare node:http proxy (for reference) and a peer stack
 * (express-openid-connect + connect-redis + http-proxy-middleware), all in front of the same
 * upstream, all on 127.0.0.1, in one bounded run. See bench/README.md.
 *
 *   npm run bench
 *   BENCH_SECONDS=5 BENCH_WARMUP_SECONDS=2 BENCH_CONNECTIONS=50 npm run bench
 *   BENCH_ROUNDS=5 npm run bench        (targets interleaved, each round's order the reverse of
 *                                        the last; the ratios are medians of each round's)
 *   BENCH_PROFILE=1 npm run bench       (CPU profile of the broker while measured, top self
 *                                        time printed, .cpuprofile kept in bench/.profiles/)
 *   BENCH_PROFILE=all npm run bench     (the same for every target)
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type DevProvider, startDevProvider } from '../demo/provider/create-provider.js'
import { CLIENT_SCOPE } from '../demo/provider/provider-config.js'
import { randomId } from '../src/lib/random.js'
import { freePort } from '../test/support/free-port.js'
import { HttpBrowser } from '../test/support/http-browser.js'
import { startRedis, type TestRedis } from '../test/support/redis.js'
import { clusterToolingAvailable, startRedisCluster } from '../test/support/redis-cluster.js'
import { ensureRedisServer } from '../test/support/system-packages.js'
import { coreBusy, coreTimes, processCpuSeconds } from './lib/cpu.js'
import { summariseProfile } from './lib/cpu-profile.js'
import { type BenchProcess, killAll, startTarget } from './lib/processes.js'
import { runMain } from './lib/run-main.js'
import { ensureWrk, onPath } from './lib/system-packages.js'
import { type LoadResult, runWrk } from './lib/wrk.js'
import type { BrokerTargetSettings } from './targets/broker.js'
import type { PeerTargetSettings } from './targets/peer.js'
import { BEARER_LENGTH_PATH, UPSTREAM_BODY } from './targets/upstream-body.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1))
/** '1' or 'broker': profile the broker; 'all': every target (the last round's measured window). */
const PROFILE = process.env.BENCH_PROFILE ?? ''
const PROFILE_DIR = fileURLToPath(new URL('./.profiles/', import.meta.url))
const PATH = '/api/bench/data'
/** BENCH_CLUSTER=0: no second broker target on a 3-master Redis Cluster. */
const CLUSTER = process.env.BENCH_CLUSTER !== '0' && clusterToolingAvailable()
/** BENCH_LANE=0: the broker served by Hono alone, as when it is mounted inside another app. */
const LANE = process.env.BENCH_LANE !== '0'
/** BENCH_ONLY=undici,broker: measure only these targets (a quicker look at one ratio). */
const ONLY = process.env.BENCH_ONLY?.split(',')
  .map((name) => name.trim())
  .filter(Boolean)
/** BENCH_BASELINE=<git ref>: the broker as that commit builds it, measured beside this one. */
const BASELINE = process.env.BENCH_BASELINE?.trim() || undefined
/** BENCH_TRACED=1: the broker once more with an OpenTelemetry SDK registered (spans made, then dropped). */
const TRACED = process.env.BENCH_TRACED === '1'
const BUILD_DIR = fileURLToPath(new URL('./.build/', import.meta.url))
const TARGETS = {
  ratioVsUndici: 0.85,
  p99RatioVsUndici: 1.5,
  ratioVsPeer: 5.0,
  clusterRatioVsStandalone: 0.9,
}

/** Servers under test on core 0; upstream, Redis, provider, wrk and this process on core 1. */
const PIN =
  process.env.BENCH_PIN !== '0' && onPath('taskset') && availableParallelism() >= 2
    ? { target: 0, rest: 1 }
    : undefined

interface Target {
  name:
    | 'undici'
    | 'bare'
    | 'broker'
    | 'broker-baseline'
    | 'broker-traced'
    | 'broker-cluster'
    | 'peer'
  process: BenchProcess
  url: string
  headers: Record<string, string>
}

interface Measured {
  target: Target
  result: LoadResult
  cpu: number
  cores: Record<string, number>
}

const stoppers: Array<() => Promise<void>> = []
let cleaning: Promise<void> | undefined

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const stop of stoppers.reverse()) {
      await stop().catch((error: unknown) => console.error('cleanup:', error))
    }
    killAll()
  })()
  return cleaning
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping everything`)
    void cleanup().finally(() => process.exit(130))
  })
}

const pct = (x: number) => `${Math.round(x * 100)}%`
const fixed = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'nan')

async function login(browser: HttpBrowser, url: string, provider: DevProvider, expect: number) {
  const username = 'alice'
  const { callbackResponse } = await browser.login({
    brokerUrl: url,
    username,
    password: provider.users[username]?.password ?? '',
  })
  if (callbackResponse.status !== expect) {
    throw new Error(
      `login at ${url} ended with ${callbackResponse.status}: ${(await callbackResponse.text()).slice(0, 300)}`,
    )
  }
  await callbackResponse.body?.cancel()
  const cookie = browser.cookieHeaderFor(url)
  if (!cookie) throw new Error(`login at ${url} left no cookie`)
  return cookie
}

/** One request per target before any load: 200 with exactly the upstream's body. */
async function check(target: Target): Promise<void> {
  const response = await fetch(`${target.url}${PATH}`, {
    headers: target.headers,
    signal: AbortSignal.timeout(10_000),
  })
  const body = await response.text()
  if (response.status !== 200 || body !== UPSTREAM_BODY) {
    throw new Error(
      `${target.name} answered ${response.status} ${body.slice(0, 300)} instead of 200 with the upstream body`,
    )
  }
}

function profiled(name: Target['name']): boolean {
  return PROFILE === 'all' || ((PROFILE === '1' || PROFILE === 'broker') && name === 'broker')
}

async function measure(target: Target, profileFile?: string): Promise<Measured> {
  const load = {
    url: `${target.url}${PATH}`,
    headers: target.headers,
    connections: CONNECTIONS,
    ...(PIN ? { core: PIN.rest } : {}),
  }
  if (WARMUP_SECONDS > 0) await runWrk({ ...load, seconds: WARMUP_SECONDS })
  const cpuBefore = processCpuSeconds(target.process.pid)
  const coresBefore = coreTimes()
  if (profileFile) target.process.profileStart()
  const result = await runWrk({ ...load, seconds: SECONDS })
  if (profileFile) await target.process.profileStop(profileFile)
  const cpu = (processCpuSeconds(target.process.pid) - cpuBefore) / (result.seconds || SECONDS)
  return { target, result, cpu, cores: coreBusy(coresBefore, coreTimes()) }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

/** Several rounds of one target → medians of the figures, sums of the failures. */
function combine(rounds: Measured[]): Measured {
  const first = rounds[0]
  if (!first) throw new Error('no rounds')
  if (rounds.length === 1) return first
  const r = rounds.map((m) => m.result)
  const sum = (f: (x: LoadResult) => number) => r.reduce((a, x) => a + f(x), 0)
  const cores: Record<string, number> = {}
  for (const cpu of Object.keys(first.cores))
    cores[cpu] = median(rounds.map((m) => m.cores[cpu] ?? 0))
  return {
    target: first.target,
    cpu: median(rounds.map((m) => m.cpu)),
    cores,
    result: {
      requests: sum((x) => x.requests),
      seconds: sum((x) => x.seconds),
      rps: median(r.map((x) => x.rps)),
      p50Ms: median(r.map((x) => x.p50Ms)),
      p99Ms: median(r.map((x) => x.p99Ms)),
      maxMs: Math.max(...r.map((x) => x.maxMs)),
      non2xx: sum((x) => x.non2xx),
      errors: sum((x) => x.errors),
      errorDetail: {
        connect: sum((x) => x.errorDetail.connect),
        read: sum((x) => x.errorDetail.read),
        write: sum((x) => x.errorDetail.write),
        timeout: sum((x) => x.errorDetail.timeout),
      },
    },
  }
}

/** Figures are only worth reading when the server under test had its core to itself. */
function noise(m: Measured): string | undefined {
  if (!PIN) return undefined
  const own = m.cores[`cpu${PIN.target}`] ?? 0
  const rest = m.cores[`cpu${PIN.rest}`] ?? 0
  if (m.cpu < 0.85 && own > 0.95)
    return `core ${PIN.target} was busy ${pct(own)} but the ${m.target.name} process used only ${pct(m.cpu)}: other processes share this core, figures are noisy`
  if (m.cpu < 0.85 && rest > 0.95)
    return `core ${PIN.rest} (wrk, upstream, redis) was saturated: the load side, not the ${m.target.name} process, limited this figure`
  return undefined
}

/** CPU time the target spent per answered request: steadier than req/s on a shared machine. */
function cpuPerRequestUs(m: Measured): number {
  return m.result.rps > 0 ? (m.cpu / m.result.rps) * 1e6 : Number.NaN
}

function report(m: Measured): string {
  const r = m.result
  const cores = Object.entries(m.cores)
    .map(([cpu, busy]) => `${cpu}_busy=${pct(busy)}`)
    .join(' ')
  return [
    m.target.name.padEnd(6),
    `req/s=${fixed(r.rps, 0).padStart(6)}`,
    `p50_ms=${fixed(r.p50Ms)}`,
    `p99_ms=${fixed(r.p99Ms)}`,
    `non2xx=${r.non2xx}`,
    `errors=${r.errors}`,
    `requests=${r.requests}`,
    `target_cpu=${pct(m.cpu)}`,
    `cpu_us_per_req=${fixed(cpuPerRequestUs(m), 0)}`,
    cores,
  ].join(' ')
}

/**
 * src/ compiled by tsc as `npm run build` compiles it (without declarations and maps), for the
 * broker target; with `ref`, that commit's src/ (taken with `git archive`, built beside this
 * one so it finds the same node_modules).
 */
function compileBroker(ref?: string): string {
  const outDir = join(BUILD_DIR, ref === undefined ? 'src' : 'baseline-src')
  rmSync(outDir, { recursive: true, force: true })
  let project = 'tsconfig.build.json'
  if (ref !== undefined) {
    const tree = join(BUILD_DIR, 'baseline-tree')
    rmSync(tree, { recursive: true, force: true })
    mkdirSync(tree, { recursive: true })
    execFileSync(
      'bash',
      ['-c', 'git archive "$0" src tsconfig.json tsconfig.build.json | tar -x -C "$1"', ref, tree],
      { stdio: 'inherit' },
    )
    project = join(tree, 'tsconfig.build.json')
  }
  const tsc = fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url))
  execFileSync(
    tsc,
    ['-p', project, '--outDir', outDir, '--declaration', 'false', '--sourceMap', 'false'],
    { stdio: 'inherit' },
  )
  return outDir
}

/** The broker's lane counter and proxied total, from its /metrics (Prometheus text). */
async function laneShare(url: string, token: string): Promise<{ lane: number; proxied: number }> {
  const text = await (
    await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text()
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(name))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
  return { lane: sum('bff_proxy_lane_requests_total'), proxied: sum('bff_proxy_requests_total') }
}

async function main() {
  if (PIN)
    execFileSync('taskset', ['-a', '-cp', String(PIN.rest), String(process.pid)], {
      stdio: 'ignore',
    })
  ensureWrk()
  ensureRedisServer()

  const redis: TestRedis = await startRedis() // inherits this process's core
  stoppers.push(() => redis.stop())

  // The Redis Cluster first: each node also binds its bus port (its port + 10000), which could
  // be a port reserved below but not yet bound.
  const cluster = CLUSTER ? await startRedisCluster() : undefined
  if (cluster) stoppers.push(() => cluster.stop())
  const brokerPort = await freePort()
  const baselinePort = await freePort()
  const tracedPort = await freePort()
  const clusterBrokerPort = await freePort()
  const peerPort = await freePort()
  const brokerUrl = `http://127.0.0.1:${brokerPort}`
  const baselineUrl = `http://127.0.0.1:${baselinePort}`
  const tracedUrl = `http://127.0.0.1:${tracedPort}`
  const clusterBrokerUrl = `http://127.0.0.1:${clusterBrokerPort}`
  const peerUrl = `http://127.0.0.1:${peerPort}`
  const broker = { id: 'bench-broker', secret: `bench-${randomId(24)}` }
  const peer = { id: 'bench-peer', secret: `bench-${randomId(24)}` }
  const provider = await startDevProvider({
    // A name other than the targets' 127.0.0.1: the login's callback is cross-site, as in life.
    publicHost: 'localhost',
    accessTokenTtlSeconds: 3600,
    apiAudience: 'http://bench-api.test',
    clients: [
      {
        client_id: broker.id,
        client_secret: broker.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [brokerUrl, baselineUrl, tracedUrl, clusterBrokerUrl].map(
          (url) => `${url}/auth/callback`,
        ),
        post_logout_redirect_uris: [`${brokerUrl}/auth/signed-out`],
      },
      {
        client_id: peer.id,
        client_secret: peer.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [`${peerUrl}/auth/callback`],
        post_logout_redirect_uris: [peerUrl],
      },
    ],
  })
  stoppers.push(() => provider.stop())

  const upstream = await startTarget(
    'upstream',
    'bench/targets/upstream.ts',
    {},
    {
      ...(PIN ? { core: PIN.rest } : {}),
    },
  )
  stoppers.push(upstream.stop)
  const upstreamUrl = `http://127.0.0.1:${upstream.info.port as number}`
  const onCore = PIN ? { core: PIN.target } : {}

  const metricsToken = `bench-only-${randomId(24)}`
  const modules = compileBroker()
  const brokerTarget = (
    port: number,
    redisTarget: BrokerTargetSettings['redis'],
    keyPrefix: string,
    more: Partial<BrokerTargetSettings> = {},
  ): BrokerTargetSettings => ({
    port,
    issuer: provider.issuer,
    clientId: broker.id,
    clientSecret: broker.secret,
    redis: redisTarget,
    keyPrefix: `${keyPrefix}-${randomId(4)}:`,
    cookieSecret: `bench-only-${randomId(24)}`,
    upstreamUrl,
    metricsToken,
    modules,
    lane: LANE,
    ...more,
  })
  const [brokerProcess, peerProcess] = await Promise.all([
    startTarget(
      'broker',
      'bench/targets/broker.ts',
      brokerTarget(brokerPort, { url: redis.url }, 'bench-broker'),
      onCore,
    ),
    startTarget(
      'peer',
      'bench/targets/peer.ts',
      {
        port: peerPort,
        issuer: provider.issuer,
        clientId: peer.id,
        clientSecret: peer.secret,
        redisUrl: redis.url,
        keyPrefix: `bench-peer-${randomId(4)}:`,
        sessionSecret: `bench-only-${randomId(24)}`,
        upstreamUrl,
        scope: CLIENT_SCOPE,
      } satisfies PeerTargetSettings,
      onCore,
    ),
  ])
  stoppers.push(brokerProcess.stop, peerProcess.stop)
  // The broker as another commit builds it, and this one traced: same Redis, same settings.
  const extraBrokers: Array<{ name: Target['name']; url: string; process: BenchProcess }> = []
  const extraBroker = async (
    name: Target['name'],
    port: number,
    more: Partial<BrokerTargetSettings>,
  ) => {
    const started = await startTarget(
      name,
      'bench/targets/broker.ts',
      brokerTarget(port, { url: redis.url }, `bench-${name}`, more),
      onCore,
    )
    stoppers.push(started.stop)
    extraBrokers.push({ name, url: `http://127.0.0.1:${port}`, process: started })
  }
  if (BASELINE)
    await extraBroker('broker-baseline', baselinePort, { modules: compileBroker(BASELINE) })
  if (TRACED) await extraBroker('broker-traced', tracedPort, { tracing: true })
  // The same broker on a real 3-master Redis Cluster (its servers on the other core).
  let clusterBroker: BenchProcess | undefined
  if (cluster) {
    clusterBroker = await startTarget(
      'broker-cluster',
      'bench/targets/broker.ts',
      brokerTarget(clusterBrokerPort, { clusterNodes: cluster.nodes }, 'bench-cluster'),
      onCore,
    )
    stoppers.push(clusterBroker.stop)
  }

  // Established sessions with fresh (1 h) access tokens, through the real provider's pages.
  // The broker's callback answers 200 (a page that navigates on); express-openid-connect's 302.
  const brokerCookie = await login(new HttpBrowser(), brokerUrl, provider, 200)
  const peerCookie = await login(new HttpBrowser(), peerUrl, provider, 302)
  const clusterCookie = clusterBroker
    ? await login(new HttpBrowser(), clusterBrokerUrl, provider, 200)
    : ''

  // The bare proxies get the very request the broker gets, and send the upstream a bearer as
  // long as the broker's real one (learnt from the upstream once the broker has sent it), so
  // that the ratios compare the work of the hop, not the bytes on the wire.
  const brokerRequest = { cookie: brokerCookie, 'x-csrf': '1' }
  const brokerTargetEntry: Target = {
    name: 'broker',
    process: brokerProcess,
    url: brokerUrl,
    headers: brokerRequest,
  }
  await check(brokerTargetEntry)
  const bearerLength = Number(await (await fetch(`${upstreamUrl}${BEARER_LENGTH_PATH}`)).text())
  const [undici, bare] = await Promise.all([
    startTarget('undici', 'bench/targets/undici-proxy.ts', { upstreamUrl, bearerLength }, onCore),
    startTarget('bare', 'bench/targets/bare-proxy.ts', { upstreamUrl, bearerLength }, onCore),
  ])
  stoppers.push(undici.stop, bare.stop)

  // In this order, each round (reversed every other round): the broker right after undici and
  // right before its own variants: those ratios compare neighbouring measurements.
  const targets: Target[] = [
    {
      name: 'bare',
      process: bare,
      url: `http://127.0.0.1:${bare.info.port as number}`,
      headers: brokerRequest,
    },
    {
      name: 'undici',
      process: undici,
      url: `http://127.0.0.1:${undici.info.port as number}`,
      headers: brokerRequest,
    },
    brokerTargetEntry,
    ...(await Promise.all(
      extraBrokers.map(async ({ name, url, process }) => ({
        name,
        process,
        url,
        headers: { cookie: await login(new HttpBrowser(), url, provider, 200), 'x-csrf': '1' },
      })),
    )),
    ...(clusterBroker
      ? [
          {
            name: 'broker-cluster' as const,
            process: clusterBroker,
            url: clusterBrokerUrl,
            headers: { cookie: clusterCookie, 'x-csrf': '1' },
          },
        ]
      : []),
    {
      name: 'peer',
      process: peerProcess,
      url: peerUrl,
      headers: { cookie: peerCookie, 'x-csrf': '1' },
    },
  ]
  for (const target of targets) await check(target)
  const measured = ONLY ? targets.filter((t) => ONLY.includes(t.name)) : targets

  console.log(
    `proxy bench: GET ${PATH} (every target gets the broker's request; bearer ${bearerLength} chars), ${CONNECTIONS} connections, ${WARMUP_SECONDS}s warm-up + ${SECONDS}s per target, ${ROUNDS} round(s), wrk -t1; ` +
      (PIN
        ? `pinning: yes (taskset; servers under test on core ${PIN.target}; upstream, redis, provider and wrk on core ${PIN.rest})`
        : `pinning: no (${process.env.BENCH_PIN === '0' ? 'BENCH_PIN=0' : 'taskset missing or fewer than 2 cores'})`),
  )
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const profiles: Array<{ name: string; file: string }> = []
  if (PROFILE) mkdirSync(PROFILE_DIR, { recursive: true })
  const rounds = new Map<Target['name'], Measured[]>(measured.map((t) => [t.name, []]))
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of round % 2 ? measured : [...measured].reverse()) {
      const profileFile =
        round === ROUNDS && profiled(target.name)
          ? join(PROFILE_DIR, `${target.name}-${stamp}.cpuprofile`)
          : undefined
      const m = await measure(target, profileFile)
      rounds.get(target.name)?.push(m)
      if (profileFile) profiles.push({ name: target.name, file: profileFile })
      if (ROUNDS > 1) console.log(`round ${round}: ${report(m)}`)
    }
  }
  const results = measured.map((t) => combine(rounds.get(t.name) ?? []))
  if (ROUNDS > 1) console.log(`medians of ${ROUNDS} rounds:`)
  for (const m of results) console.log(report(m))
  // This VM's speed swings by up to 2x for seconds at a time, whatever runs. So the ratios,
  // the targets and the last line are medians of each round's ratios (pairedRatios); the
  // ratios of the medians and of each target's fastest round are shown for information.
  const fastest = measured.map((t) => fastestRound(rounds.get(t.name) ?? []))
  if (ROUNDS > 1) {
    console.log(`fastest of ${ROUNDS} rounds, for each target:`)
    for (const m of fastest) console.log(report(m))
  }
  const warnings = [...rounds.values()].flat().map(noise).filter(Boolean)
  for (const w of new Set(warnings)) console.log(`warning: ${w}`)

  // Nothing was refreshed or re-authenticated during the run: still 200 with the body.
  for (const target of targets) await check(target)
  const { lane, proxied } = await laneShare(brokerUrl, metricsToken)
  console.log(
    `broker${LANE ? '' : ' (BENCH_LANE=0)'}: ${lane} of ${proxied} proxied requests took the node-level /api lane (${pct(lane / proxied)}; the rest took the Hono route)`,
  )
  if (clusterBroker) {
    const share = await laneShare(clusterBrokerUrl, metricsToken)
    console.log(
      `broker-cluster: ${share.lane} of ${share.proxied} proxied requests took the node-level /api lane (${pct(share.lane / share.proxied)})`,
    )
  }

  for (const { name, file } of profiles) {
    const summary = summariseProfile(file, 15)
    console.log(
      `${name} cpu profile of the measured window (${fixed(summary.seconds, 1)} s, process busy ${pct(summary.busy)}; ${file}), top self time as share of busy samples:`,
    )
    for (const f of summary.functions)
      console.log(`  ${fixed(f.share * 100, 1).padStart(5)}%  ${f.label}`)
    console.log(
      '  by owner (self time charged to the nearest package or project folder on the stack):',
    )
    for (const o of summary.owners.slice(0, 10))
      console.log(`  ${fixed(o.share * 100, 1).padStart(5)}%  ${o.label}`)
    console.log('  by area (where the self time itself ran):')
    for (const a of summary.areas.slice(0, 6))
      console.log(`  ${fixed(a.share * 100, 1).padStart(5)}%  ${a.label}`)
  }

  if (
    !ONLY &&
    ['undici', 'bare', 'broker', 'peer'].some((n) => !results.some((m) => m.target.name === n))
  )
    throw new Error('a target was not measured')
  if (ROUNDS > 1) {
    console.log(`fastest rounds (for information): ${finalLine(ratiosOf(fastest))}`)
    console.log(`ratios of the medians (for information): ${finalLine(ratiosOf(results))}`)
  }
  const { ratioVsUndici, p99RatioVsUndici, ratioVsBare, ratioVsPeer, clusterShare } = pairedRatios(
    measured.map((t) => rounds.get(t.name) ?? []),
  )
  const by = (name: Target['name']) => results.find((m) => m.target.name === name)?.result
  const k = by('broker')
  const cost = (name: Target['name']) => {
    const m = results.find((x) => x.target.name === name)
    return m ? cpuPerRequestUs(m) : Number.NaN
  }
  // Informational: the same ratios from CPU cost per request (each round's, then the median),
  // which neither other load on the machine nor a load side that cannot keep up (a noise
  // warning) disturbs as it does req/s.
  const costRatio = (name: Target['name']) =>
    pairedCostRatio(rounds.get(name), rounds.get('broker'))
  console.log(
    `cpu_cost: undici/broker=${fixed(costRatio('undici'))} bare/broker=${fixed(costRatio('bare'))} peer/broker=${fixed(costRatio('peer'))} (≈ the req/s ratios on a core of their own)`,
  )
  console.log(`reference: ratio_vs_node_http=${fixed(ratioVsBare)}`)
  const versus = (name: Target['name'], label: string) => {
    const other = by(name)
    if (!other) return
    console.log(
      `${label}: req/s ratio=${fixed(ratio(k?.rps, other.rps), 3)} cpu_us_per_req ratio=${fixed(cost('broker') / cost(name), 3)} (broker ÷ ${name})`,
    )
  }
  versus('broker-baseline', `baseline ${BASELINE ?? ''}`)
  versus('broker-traced', 'tracing off vs on')
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met')
  console.log(
    `targets: ratio_vs_undici>=${fixed(TARGETS.ratioVsUndici)} ${met(ratioVsUndici >= TARGETS.ratioVsUndici)}, ` +
      `p99_ratio_vs_undici<=${fixed(TARGETS.p99RatioVsUndici)} ${met(p99RatioVsUndici <= TARGETS.p99RatioVsUndici)}, ` +
      `ratio_vs_peer>=${fixed(TARGETS.ratioVsPeer)} ${met(ratioVsPeer >= TARGETS.ratioVsPeer)}` +
      (clusterShare === undefined
        ? ''
        : `, cluster_ratio_vs_standalone>=${fixed(TARGETS.clusterRatioVsStandalone)} ${met(clusterShare >= TARGETS.clusterRatioVsStandalone)}`),
  )
  const failed = results.filter((m) => m.result.non2xx > 0 || m.result.errors > 0)
  for (const m of failed) {
    console.log(
      `FAILED ${m.target.name}: non2xx=${m.result.non2xx} errors=${JSON.stringify(m.result.errorDetail)}`,
    )
  }
  console.log(
    finalLine({ ratioVsUndici, p99RatioVsUndici, ratioVsBare, ratioVsPeer, clusterShare }),
  )
  return failed.length === 0 ? 0 : 1
}

function ratio(x: number | undefined, y: number | undefined): number {
  return x === undefined || y === undefined ? Number.NaN : x / y
}

interface Ratios {
  ratioVsUndici: number
  p99RatioVsUndici: number
  ratioVsBare: number
  ratioVsPeer: number
  /** Undefined without a broker-cluster target. */
  clusterShare: number | undefined
}

/** The broker's ratios against the other targets, from one figure per target. */
function ratiosOf(figures: Measured[]): Ratios {
  const by = (name: Target['name']) => figures.find((m) => m.target.name === name)?.result
  const [u, b, k, p, c] = [by('undici'), by('bare'), by('broker'), by('peer'), by('broker-cluster')]
  return {
    ratioVsUndici: ratio(k?.rps, u?.rps),
    p99RatioVsUndici: ratio(k?.p99Ms, u?.p99Ms),
    ratioVsBare: ratio(k?.rps, b?.rps),
    ratioVsPeer: ratio(k?.rps, p?.rps),
    clusterShare: c ? ratio(c.rps, k?.rps) : undefined,
  }
}

/**
 * Each round's ratios, then the median of each across rounds: a slow or fast phase of the
 * machine that spans both measurements of a pair cancels out, which it does not between the
 * medians of separate targets (undici and broker-cluster are measured next to the broker; peer
 * and bare a measurement or two away). One round: its ratios.
 */
function pairedRatios(roundsByTarget: Measured[][]): Ratios {
  const count = Math.min(...roundsByTarget.map((r) => r.length))
  const perRound: Ratios[] = []
  for (let i = 0; i < count; i++) {
    perRound.push(ratiosOf(roundsByTarget.map((r) => r[i] as Measured)))
  }
  const middle = (pick: (r: Ratios) => number | undefined) => {
    const values = perRound
      .map(pick)
      .filter((x): x is number => x !== undefined && !Number.isNaN(x))
    return values.length ? median(values) : Number.NaN
  }
  const cluster = perRound.some((r) => r.clusterShare !== undefined)
  return {
    ratioVsUndici: middle((r) => r.ratioVsUndici),
    p99RatioVsUndici: middle((r) => r.p99RatioVsUndici),
    ratioVsBare: middle((r) => r.ratioVsBare),
    ratioVsPeer: middle((r) => r.ratioVsPeer),
    clusterShare: cluster ? middle((r) => r.clusterShare) : undefined,
  }
}

/** The median over rounds of one target's CPU per request divided by another's in that round. */
function pairedCostRatio(of: Measured[] = [], to: Measured[] = []): number {
  const count = Math.min(of.length, to.length)
  const ratios: number[] = []
  for (let i = 0; i < count; i++) {
    const value = cpuPerRequestUs(of[i] as Measured) / cpuPerRequestUs(to[i] as Measured)
    if (!Number.isNaN(value)) ratios.push(value)
  }
  return ratios.length ? median(ratios) : Number.NaN
}

function finalLine(r: Ratios): string {
  const cluster =
    r.clusterShare === undefined ? '' : ` cluster_ratio_vs_standalone=${fixed(r.clusterShare)}`
  return `ratio_vs_undici=${fixed(r.ratioVsUndici)} p99_ratio_vs_undici=${fixed(r.p99RatioVsUndici)} ratio_vs_peer=${fixed(r.ratioVsPeer)}${cluster}`
}

/** A target's round with the most requests per second (its p50 and p99 from that round). */
function fastestRound(rounds: Measured[]): Measured {
  const first = rounds[0]
  if (!first) throw new Error('no rounds')
  return rounds.reduce((best, m) => (m.result.rps > best.result.rps ? m : best), first)
}

runMain(main, cleanup)
