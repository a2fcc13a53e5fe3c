import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect as connectTls } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { throwawayCertificate } from '../../e2e/support/tls.js'
import { createLimitedServer } from '../../src/http/limited-server.js'
import { createLogger } from '../../src/observability/logger.js'
import { BffMetrics } from '../../src/observability/metrics.js'
import { freePort } from '../support/free-port.js'
import {
  offlineServerEnv,
  processUsage,
  type ServerProcess,
  startServerProcess,
} from '../support/server-process.js'
import { until } from '../support/until.js'

// Issue 12: thousands of connections that never finish their headers kept the broker's file
// descriptors until it could answer no one. These attacks run against the real server process
// (src/server.ts), configured by its environment with short deadlines so the run stays quick.

const HEADERS_TIMEOUT_S = 2
const REQUEST_TIMEOUT_S = 5
const KEEP_ALIVE_S = 1
/** Node checks deadlines every second (createLimitedServer); one more for a loaded 2-core VM. */
const SLACK_MS = 2000

/** The caps server: per address, in all, and an open-file limit the total cap must fit under. */
const CAPPED = { perAddress: 100, total: 400, openFileLimit: 1024 }

interface Attacker {
  connectedAt: number
  closedAt: number | undefined
}

const lifetime = (a: Attacker) => (a.closedAt ?? Number.POSITIVE_INFINITY) - a.connectedAt
const stillOpen = (attackers: Attacker[]) => attackers.filter((a) => a.closedAt === undefined)

/**
 * A connection from `localAddress` (any 127.x address works on Linux loopback) that sends a
 * request line and then one header line a second, never ending its headers; `silent` sends
 * nothing at all.
 */
function halfOpen(port: number, localAddress: string, silent: boolean): Promise<Attacker> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ port, host: '127.0.0.1', localAddress })
    const attacker: Attacker = { connectedAt: 0, closedAt: undefined }
    let trickle: NodeJS.Timeout | undefined
    socket.on('error', () => {}) // writes after the server closed us: expected
    socket.resume() // read the server's 408 and its end, so 'close' comes
    socket.on('close', () => {
      attacker.closedAt = performance.now()
      clearInterval(trickle)
      resolve(attacker) // refused before it connected: connectedAt stays 0
    })
    socket.on('connect', () => {
      attacker.connectedAt = performance.now()
      if (!silent) {
        socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n')
        let line = 0
        trickle = setInterval(() => socket.write(`X-Trickle-${line++}: 1\r\n`), 1000)
      }
      resolve(attacker)
    })
  })
}

/** `count` half-open connections spread over `addresses`, in batches the listen backlog takes. */
async function openMany(
  port: number,
  count: number,
  addresses: string[],
  silentEvery = 0,
): Promise<Attacker[]> {
  const attackers: Attacker[] = []
  for (let start = 0; start < count; start += 200) {
    const batch = Array.from({ length: Math.min(200, count - start) }, (_, j) => {
      const i = start + j
      const silent = silentEvery > 0 && i % silentEvery === 0
      return halfOpen(port, addresses[i % addresses.length] as string, silent)
    })
    attackers.push(...(await Promise.all(batch)))
  }
  return attackers
}

const loopback = (first: number, count: number) =>
  Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`)

interface Probe {
  ok: boolean
  ms: number
  detail?: string
}

/** GET /healthz on a new connection from 127.0.0.1 (not an attacker's address). */
function probe(port: number): Promise<Probe> {
  const start = performance.now()
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 5000 },
      (res) => {
        res.resume()
        res.on('end', () =>
          resolve({
            ok: res.statusCode === 200,
            ms: performance.now() - start,
            detail: `status ${res.statusCode}`,
          }),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')))
    req.on('error', (error) =>
      resolve({ ok: false, ms: performance.now() - start, detail: error.message }),
    )
    req.end()
  })
}

/** Probes /healthz every 150 ms until stopped. */
function probeThroughout(port: number): { stop(): Promise<Probe[]> } {
  const probes: Probe[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      probes.push(await probe(port))
      await sleep(150)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return probes
    },
  }
}

function summarise(label: string, probes: Probe[]) {
  const failed = probes.filter((p) => !p.ok)
  const maxMs = Math.max(...probes.map((p) => p.ms))
  console.log(
    `${label}: ${probes.length} /healthz probes, ${failed.length} failed, max latency ${maxMs.toFixed(0)} ms`,
  )
  return failed
}

/** Samples a process's open files and memory every 50 ms; the peaks until stopped. */
function samplePeaks(pid: number) {
  const peak = processUsage(pid)
  const timer = setInterval(() => {
    const now = processUsage(pid)
    peak.fds = Math.max(peak.fds, now.fds)
    peak.rssBytes = Math.max(peak.rssBytes, now.rssBytes)
  }, 50)
  return {
    stop() {
      clearInterval(timer)
      return peak
    },
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

function connectionLines(server: ServerProcess) {
  return server.logLines().filter((line) => line.event === 'connections.limited')
}

function countsIn(lines: Record<string, unknown>[]): Record<string, number> {
  const sums: Record<string, number> = {}
  for (const line of lines) {
    for (const [reason, n] of Object.entries(line.counts as Record<string, number>)) {
      sums[reason] = (sums[reason] ?? 0) + n
    }
  }
  return sums
}

async function listening(server: ServerProcess) {
  await until(
    () => server.logLines().some((line) => line.event === 'startup.listening'),
    'the server to listen',
    30_000,
  )
}

let deadlines: ServerProcess
let deadlinesPort: number
let metricsPort: number
let capped: ServerProcess
let cappedPort: number
/** The caps server's open files before any attack. */
let cappedBaseline: number

beforeAll(async () => {
  deadlinesPort = await freePort()
  metricsPort = await freePort()
  cappedPort = await freePort()
  const timeouts = {
    HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_S),
    REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_S),
    KEEP_ALIVE_TIMEOUT_SECONDS: String(KEEP_ALIVE_S),
  }
  deadlines = startServerProcess({
    ...offlineServerEnv(deadlinesPort),
    ...timeouts,
    MAX_CONNECTIONS: '5000',
    MAX_CONNECTIONS_PER_ADDRESS: '1000',
    METRICS_PORT: String(metricsPort),
  })
  capped = startServerProcess(
    {
      ...offlineServerEnv(cappedPort),
      ...timeouts,
      MAX_CONNECTIONS: String(CAPPED.total),
      MAX_CONNECTIONS_PER_ADDRESS: String(CAPPED.perAddress),
    },
    { openFileLimit: CAPPED.openFileLimit },
  )
  await Promise.all([listening(deadlines), listening(capped)])
  cappedBaseline = processUsage(capped.child.pid as number).fds
})

afterAll(() => {
  deadlines?.child.kill('SIGKILL')
  capped?.child.kill('SIGKILL')
})

/** Every connection the caps server saw, and what happened to it. */
const cappedAttackers: Attacker[] = []

describe('connection caps on the real server process', () => {
  it('keeps one address to its cap: the excess is closed at once, other addresses get /healthz', async () => {
    const probes = probeThroughout(cappedPort)
    const attackers = await openMany(cappedPort, 3 * CAPPED.perAddress, ['127.0.0.2'])
    cappedAttackers.push(...attackers)
    await until(
      () => stillOpen(attackers).length <= CAPPED.perAddress,
      'the excess connections to be closed',
      1000,
    ).catch(() => {})
    const refused = attackers.filter((a) => lifetime(a) < 1000)
    console.log(
      `per-address cap: ${attackers.length} connections from 127.0.0.2, ${stillOpen(attackers).length} open, ${refused.length} closed at once (slowest after ${Math.max(...refused.map(lifetime), 0).toFixed(0)} ms)`,
    )
    expect(stillOpen(attackers)).toHaveLength(CAPPED.perAddress)
    expect(refused).toHaveLength(2 * CAPPED.perAddress)
    await sleep(500)
    expect(summarise('while one address is capped', await probes.stop())).toEqual([])
  })

  it('refuses connections past the total cap before the process runs out of file descriptors, and serves again once they are reaped', async () => {
    const peaks = samplePeaks(capped.child.pid as number)
    // 10 addresses × the per-address cap: only the total cap stops them. Without it, these and
    // the previous test's connections would be more than the process's 1024 descriptors.
    const attackers = await openMany(cappedPort, 10 * CAPPED.perAddress, loopback(3, 10))
    cappedAttackers.push(...attackers)
    await until(
      () => stillOpen(cappedAttackers).length <= CAPPED.total,
      'connections past the cap to be closed',
      1000,
    ).catch(() => {})
    const openNow = stillOpen(cappedAttackers).length
    const peak = peaks.stop()
    console.log(
      `total cap ${CAPPED.total} (open-file limit ${CAPPED.openFileLimit}): ${openNow} attack connections open, server open files ${cappedBaseline} before the attacks, peak ${peak.fds}`,
    )
    expect(capped.child.exitCode).toBeNull()
    expect(openNow).toBeLessThanOrEqual(CAPPED.total)
    expect(peak.fds).toBeLessThanOrEqual(cappedBaseline + CAPPED.total + 50)
    // Every connection, the capped ones too, is reaped at the header deadline; then /healthz
    // answers again.
    await until(
      () => stillOpen(cappedAttackers).length === 0,
      'the attack connections to be reaped',
      HEADERS_TIMEOUT_S * 1000 + SLACK_MS + 1000,
    )
    expect((await probe(cappedPort)).ok).toBe(true)
    expect(capped.child.exitCode).toBeNull()
  })
})

describe('deadlines on the real server process', () => {
  it('closes 3000 half-open connections that trickle headers within 2 s of the header deadline, while /healthz answers and open files and memory stay bounded', async () => {
    const pid = deadlines.child.pid as number
    const before = processUsage(pid)
    const peaks = samplePeaks(pid)
    const probes = probeThroughout(deadlinesPort)
    // 375 from each of 8 addresses; every tenth sends nothing at all.
    const attackers = await openMany(deadlinesPort, 3000, loopback(2, 8), 10)
    const bound = HEADERS_TIMEOUT_S * 1000 + SLACK_MS
    await until(
      () => stillOpen(attackers).length === 0,
      'every half-open connection to be closed',
      bound + 2000,
    ).catch(() => {})
    const failed = summarise('during the half-open attack', await probes.stop())
    const peak = peaks.stop()
    await until(() => processUsage(pid).fds <= before.fds + 5, 'descriptors to be freed').catch(
      () => {},
    )
    const after = processUsage(pid)
    const lifetimes = attackers.map(lifetime)
    console.log(
      `header deadline ${HEADERS_TIMEOUT_S} s: ${attackers.length} half-open connections, ${stillOpen(attackers).length} still open, closed after ${Math.min(...lifetimes).toFixed(0)}–${Math.max(...lifetimes).toFixed(0)} ms`,
    )
    console.log(
      `server open files ${before.fds} before, ${peak.fds} peak, ${after.fds} after; RSS ${mib(before.rssBytes)} before, ${mib(peak.rssBytes)} peak, ${mib(after.rssBytes)} after`,
    )
    expect(attackers.every((a) => a.connectedAt > 0)).toBe(true)
    expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_S * 1000 - 100)
    expect(Math.max(...lifetimes)).toBeLessThanOrEqual(bound)
    expect(failed).toEqual([])
    expect(peak.fds).toBeLessThanOrEqual(before.fds + attackers.length + 50)
    expect(after.fds).toBeLessThanOrEqual(before.fds + 5)
    expect(peak.rssBytes - before.rssBytes).toBeLessThan(200 * 2 ** 20)
  })

  it('cuts a request whose body trickles at the request deadline', async () => {
    const socket = connect({ port: deadlinesPort, host: '127.0.0.1' })
    socket.on('error', () => {})
    socket.resume()
    await new Promise((resolve) => socket.once('connect', resolve))
    const start = performance.now()
    // The back-channel route reads its whole body (up to 16 KiB) before it answers.
    socket.write(
      'POST /auth/backchannel-logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000\r\n\r\nlogout_token=',
    )
    const trickle = setInterval(() => socket.write('a'), 300)
    const closedAfter = await new Promise<number>((resolve) =>
      socket.once('close', () => resolve(performance.now() - start)),
    ).finally(() => clearInterval(trickle))
    console.log(
      `request deadline ${REQUEST_TIMEOUT_S} s: a body trickling 1 byte per 300 ms was cut after ${closedAfter.toFixed(0)} ms`,
    )
    expect(closedAfter).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_S * 1000 - 100)
    expect(closedAfter).toBeLessThanOrEqual(REQUEST_TIMEOUT_S * 1000 + SLACK_MS)
  })

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const socket = connect({ port: deadlinesPort, host: '127.0.0.1' })
    socket.on('error', () => {})
    let answeredAt = 0
    let answer = ''
    socket.on('data', (chunk) => {
      answer += chunk
      if (answer.includes('{"status":"ok"}')) answeredAt ||= performance.now()
    })
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    const closedAt = await new Promise<number>((resolve) =>
      socket.once('close', () => resolve(performance.now())),
    )
    const idle = closedAt - answeredAt
    console.log(
      `keep-alive timeout ${KEEP_ALIVE_S} s (Node adds 1 s): an idle connection was closed ${idle.toFixed(0)} ms after its answer`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(answer).toMatch(new RegExp(`Keep-Alive: timeout=${KEEP_ALIVE_S}`, 'i'))
    expect(idle).toBeGreaterThanOrEqual(KEEP_ALIVE_S * 1000)
    expect(idle).toBeLessThanOrEqual(KEEP_ALIVE_S * 1000 + 1000 + 1500)
  })
})

describe('reporting refused and reaped connections', () => {
  it('writes one warning line per burst with the counts by reason, not one per connection', async () => {
    const refused = cappedAttackers.filter((a) => lifetime(a) < 1000).length
    const reaped = cappedAttackers.length - refused
    // The attack above lasted a few seconds: one 10-second window, two if it straddled one.
    await until(
      () => {
        const sums = countsIn(connectionLines(capped))
        return (sums.max_connections ?? 0) + (sums.max_connections_per_address ?? 0) >= refused
      },
      'the refusals to be logged',
      20_000,
    ).catch(() => {})
    await until(
      () => (countsIn(connectionLines(capped)).headers_timeout ?? 0) >= reaped,
      'the reaped connections to be logged',
      12_000,
    ).catch(() => {})
    const lines = connectionLines(capped)
    const sums = countsIn(lines)
    console.log(
      `${refused} refused and ${reaped} reaped connections made ${lines.length} warning line(s): ${JSON.stringify(sums)}`,
    )
    expect(lines.length).toBeGreaterThanOrEqual(1)
    expect(lines.length).toBeLessThanOrEqual(2)
    expect(lines.every((line) => line.level === 40)).toBe(true) // pino's warn
    expect(sums.max_connections_per_address).toBe(2 * CAPPED.perAddress)
    expect((sums.max_connections ?? 0) + (sums.max_connections_per_address ?? 0)).toBe(refused)
    expect(sums.headers_timeout).toBe(reaped)
  })

  it('counts reaped connections in metrics by reason: the header deadline and the request deadline apart', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    expect(text).toContain('bff_connections_timed_out_total{reason="headers_timeout"} 3000')
    expect(text).toContain('bff_connections_timed_out_total{reason="request_timeout"} 1')
    expect(text).toMatch(/^bff_connections_open 0$/m)
    await until(
      () => (countsIn(connectionLines(deadlines)).headers_timeout ?? 0) >= 3000,
      'the reaped connections to be logged',
      12_000,
    ).catch(() => {})
    const lines = connectionLines(deadlines)
    console.log(
      `the deadlines server wrote ${lines.length} warning line(s) for 3000 reaped connections: ${JSON.stringify(countsIn(lines))}`,
    )
    expect(countsIn(lines).headers_timeout).toBe(3000)
    expect(lines.length).toBeLessThanOrEqual(2)
  })
})

describe('createLimitedServer over TLS (library use)', () => {
  it('closes a connection that never starts its TLS handshake, and one that trickles headers after it, at the header deadline; caps per address', async () => {
    const metrics = new BffMetrics()
    const server = createLimitedServer((_req, res) => res.end('ok'), {
      limits: { headersTimeoutSeconds: 1, requestTimeoutSeconds: 1, maxConnectionsPerAddress: 2 },
      tls: throwawayCertificate('localhost'),
      logger: createLogger('silent'),
      metrics,
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    try {
      const closed = (socket: Socket) => {
        const start = performance.now()
        socket.on('error', () => {})
        socket.resume()
        return new Promise<number>((resolve) =>
          socket.once('close', () => resolve(performance.now() - start)),
        )
      }
      const silent = closed(connect({ port, host: '127.0.0.1' }))
      const tls = connectTls({ port, host: '127.0.0.1', rejectUnauthorized: false })
      await new Promise((resolve) => tls.once('secureConnect', resolve))
      tls.write('GET / HTTP/1.1\r\nHost: localhost\r\n')
      const trickle = setInterval(() => tls.write('X-Trickle: 1\r\n'), 300)
      const trickling = closed(tls)
      // Two connections from 127.0.0.1 are open: a third is over the per-address cap.
      const third = await closed(connect({ port, host: '127.0.0.1' }))
      const [silentMs, tricklingMs] = await Promise.all([silent, trickling])
      clearInterval(trickle)
      console.log(
        `TLS, 1 s deadlines: no handshake closed after ${silentMs.toFixed(0)} ms, trickled headers after ${tricklingMs.toFixed(0)} ms, third connection from one address after ${third.toFixed(0)} ms`,
      )
      expect(third).toBeLessThan(500)
      expect(silentMs).toBeGreaterThanOrEqual(900)
      expect(silentMs).toBeLessThanOrEqual(1000 + SLACK_MS)
      expect(tricklingMs).toBeGreaterThanOrEqual(900)
      expect(tricklingMs).toBeLessThanOrEqual(1000 + SLACK_MS)
      const text = await metrics.registry.metrics()
      expect(text).toContain('bff_connections_timed_out_total{reason="handshake_timeout"} 1')
      expect(text).toContain('bff_connections_timed_out_total{reason="headers_timeout"} 1')
      expect(text).toContain(
        'bff_connections_refused_total{reason="max_connections_per_address"} 1',
      )
    } finally {
      server.close()
    }
  })
})
