import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { randomId } from '../../src/lib/random.js'

export interface ServerProcess {
  child: ChildProcess
  /** Everything it wrote to stdout and stderr so far. */
  output(): string
  /** Its JSON log lines (pino) so far, parsed. */
  logLines(): Record<string, unknown>[]
  exit: Promise<[number | null, NodeJS.Signals | null]>
}

/**
 * The standalone server (src/server.ts, or with `compiled` dist/server.js) as a child process, configured by `env` only (the test
 * runner's environment is not passed on). With `openFileLimit`, it runs under that
 * `ulimit -n` (soft and hard, so Node cannot raise it).
 */
export function startServerProcess(
  env: Record<string, string>,
  options: { openFileLimit?: number; compiled?: boolean } = {},
): ServerProcess {
  // compiled: dist/server.js as `npm run build` leaves it (what the container runs).
  const node = options.compiled
    ? [process.execPath, 'dist/server.js']
    : [process.execPath, '--import', 'tsx', 'src/server.ts']
  const [command, args] =
    options.openFileLimit === undefined
      ? [process.execPath, node.slice(1)]
      : ['bash', ['-c', 'ulimit -n "$0" && exec "$@"', String(options.openFileLimit), ...node]]
  const child = spawn(command as string, args as string[], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk
  })
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return {
    child,
    output: () => output,
    logLines: () =>
      output.split('\n').flatMap((line) => {
        if (!line.startsWith('{')) return []
        try {
          return [JSON.parse(line) as Record<string, unknown>]
        } catch {
          return [] // the line is still being written
        }
      }),
    exit,
  }
}

/** Settings that start the server without a reachable provider (it keeps running, /healthz is 200). */
export function offlineServerEnv(port: number): Record<string, string> {
  return {
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    OIDC_ISSUER: 'http://127.0.0.1:1',
    DANGEROUSLY_ALLOW_HTTP_ISSUER: 'true',
    OIDC_CLIENT_ID: 'proc-client',
    OIDC_CLIENT_SECRET: 'proc-secret',
    COOKIE_SECRETS: `1:test-only-${randomId(24)}`,
    LOG_LEVEL: 'info',
  }
}

/** Open file descriptors and resident memory (bytes) of a process, from Linux's /proc. */
export function processUsage(pid: number): { fds: number; rssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN)
  return { fds: readdirSync(`/proc/${pid}/fd`).length, rssBytes: rssKb * 1024 }
}
