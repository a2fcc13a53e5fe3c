import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

/** Timer interval of both samplers; Node records each interval, so a stall is the excess. */
const RESOLUTION_MS = 10
/** A /healthz that takes longer than this counts as not answered. */
const PROBE_TIMEOUT_MS = 5000
/** Pause between two probes (each waits for the previous answer). */
const PROBE_GAP_MS = 20

export interface LoopFigures {
  /** Longest stall of this process's event loop by wall clock (monitorEventLoopDelay). */
  maxStallMs: number
  p99StallMs: number
  /**
   * Longest stall during which the event loop's thread was itself on a CPU: each interval's
   * lateness, capped by the CPU time that thread used meanwhile (Linux: its schedstat; elsewhere
   * the whole process's, every thread, so an upper bound that GC helpers and the thread pool
   * inflate on a loaded machine). The wall-clock figure also counts time given to others.
   */
  maxBusyStallMs: number
  probes: number
  /** Probes that failed or did not answer 200 within PROBE_TIMEOUT_MS. */
  probeFailures: number
  probeMaxMs: number
}

export interface LoopWatch {
  stop(): Promise<LoopFigures>
}

/**
 * Watches this process's event loop (the broker's, when it runs in the test worker) with
 * perf_hooks.monitorEventLoopDelay and a CPU-time sampler, and probes `healthUrl` one request
 * after another, as a load balancer would, until stopped.
 */
export function watchEventLoop(healthUrl: string): LoopWatch {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  let maxBusyStall = 0
  let lastAt = performance.now()
  let lastCpuMs = loopThreadCpuMs()
  const sampler = setInterval(() => {
    const now = performance.now()
    const cpuMs = loopThreadCpuMs()
    maxBusyStall = Math.max(maxBusyStall, Math.min(now - lastAt, cpuMs - lastCpuMs) - RESOLUTION_MS)
    lastAt = now
    lastCpuMs = cpuMs
  }, RESOLUTION_MS)
  let running = true
  const latencies: number[] = []
  let failures = 0
  const probing = (async () => {
    while (running) {
      const started = performance.now()
      try {
        const response = await fetch(healthUrl, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
        await response.arrayBuffer()
        if (response.status !== 200) failures++
      } catch {
        failures++
      }
      latencies.push(performance.now() - started)
      await new Promise((resolve) => setTimeout(resolve, PROBE_GAP_MS))
    }
  })()
  const stall = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS)
  return {
    async stop() {
      running = false
      await probing
      clearInterval(sampler)
      histogram.disable()
      return {
        maxStallMs: stall(histogram.max),
        p99StallMs: stall(histogram.percentile(99)),
        maxBusyStallMs: Math.max(0, maxBusyStall),
        probes: latencies.length,
        probeFailures: failures,
        probeMaxMs: Math.max(0, ...latencies),
      }
    },
  }
}

/** The main thread's schedstat (Linux): its first field is the time it has run on a CPU, in ns. */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`

/** CPU time of the event loop's thread so far, in ms; the whole process's where unknown. */
function loopThreadCpuMs(): number {
  try {
    return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6
  } catch {
    const cpu = process.cpuUsage()
    return (cpu.user + cpu.system) / 1000
  }
}
