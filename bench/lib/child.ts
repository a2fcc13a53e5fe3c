import { writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import { Session } from 'node:inspector/promises'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'

/**
 * The child side of a benchmark process: reads its settings from one environment
 * variable, announces its address on stdout, and exits when the parent goes away
 * (its stdin closes) or asks it to stop.
 */

export const READY_PREFIX = 'BENCH_READY '
export const PROFILED_PREFIX = 'BENCH_PROFILED '

/** Commands from the parent, one JSON line each on stdin. */
export type ChildCommand = { cmd: 'profile-start' } | { cmd: 'profile-stop'; file: string }

let inspector: Session | undefined

/** CPU profile of exactly the measured window: started and stopped by the parent. */
async function onCommand(command: ChildCommand): Promise<void> {
  if (command.cmd === 'profile-start') {
    inspector = new Session()
    inspector.connect()
    await inspector.post('Profiler.enable')
    await inspector.post('Profiler.setSamplingInterval', { interval: 250 })
    await inspector.post('Profiler.start')
  } else if (command.cmd === 'profile-stop' && inspector) {
    const { profile } = await inspector.post('Profiler.stop')
    await writeFile(command.file, JSON.stringify(profile))
    inspector.disconnect()
    inspector = undefined
    process.stdout.write(`${PROFILED_PREFIX}${command.file}\n`)
  }
}

export function settings<T>(): T {
  const raw = process.env.BENCH_TARGET_SETTINGS
  if (!raw)
    throw new Error('BENCH_TARGET_SETTINGS is not set: start this file from bench/proxy-bench.ts')
  return JSON.parse(raw) as T
}

/** Tells the parent this process is serving; `info` travels as one JSON line. */
export function announceReady(info: Record<string, unknown>): void {
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(info)}\n`)
}

/** Runs `stop` once, on SIGTERM, SIGINT or the parent's end of stdin closing, then exits. */
export function onShutdown(stop: () => Promise<void> | void): void {
  let stopping = false
  const shutdown = () => {
    if (stopping) return
    stopping = true
    const timer = setTimeout(() => process.exit(0), 2000)
    timer.unref()
    Promise.resolve()
      .then(stop)
      .catch((error: unknown) => console.error(error))
      .finally(() => process.exit(0))
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
  process.stdin.on('end', shutdown)
  process.stdin.on('error', shutdown)
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (!line.trim()) return
    onCommand(JSON.parse(line) as ChildCommand).catch((error: unknown) => console.error(error))
  })
}

export function fail(error: unknown): never {
  console.error(error)
  process.exit(1)
}

/**
 * Listens on a free loopback port, announces it, and closes every connection at shutdown
 * (after `beforeClose`, e.g. destroying an agent). For the bench's plain node:http servers.
 */
export function serveOnLoopback(server: Server, beforeClose: () => void = () => {}): void {
  server.listen(0, '127.0.0.1', () => {
    announceReady({ port: (server.address() as AddressInfo).port })
  })
  server.on('error', fail)
  onShutdown(
    () =>
      new Promise<void>((resolve) => {
        beforeClose()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
}
