import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { pinned, track } from './processes.js'

const REPORT_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url))

export interface LoadOptions {
  url: string
  headers: Record<string, string>
  connections: number
  seconds: number
  core?: number
}

export interface LoadResult {
  requests: number
  seconds: number
  rps: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  non2xx: number
  errors: number
  errorDetail: { connect: number; read: number; write: number; timeout: number }
}

/** One wrk run (one thread, fixed connections, fixed duration). */
export function runWrk(options: LoadOptions): Promise<LoadResult> {
  const headerArgs = Object.entries(options.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])
  const { command, args } = pinned(options.core, 'wrk', [
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    REPORT_SCRIPT,
    ...headerArgs,
    options.url,
  ])
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  track(child)
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '))
      if (code !== 0 || !line) {
        reject(new Error(`wrk failed (${code ?? signal}): ${err.trim()} ${out.trim()}`))
        return
      }
      const r = JSON.parse(line.slice('WRK_JSON '.length)) as Record<string, number>
      const n = (k: string) => r[k] ?? 0
      const seconds = n('duration_us') / 1e6
      const errorDetail = {
        connect: n('connect'),
        read: n('read'),
        write: n('write'),
        timeout: n('timeout'),
      }
      resolve({
        requests: n('requests'),
        seconds,
        rps: seconds > 0 ? n('requests') / seconds : 0,
        p50Ms: n('p50_us') / 1000,
        p99Ms: n('p99_us') / 1000,
        maxMs: n('max_us') / 1000,
        non2xx: n('non2xx'),
        errors: Object.values(errorDetail).reduce((a, b) => a + b, 0),
        errorDetail,
      })
    })
  })
}
