import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type ChildCommand, PROFILED_PREFIX, READY_PREFIX } from './child.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface StartOptions {
  /** CPU core to pin the process to with taskset; undefined = not pinned. */
  core?: number
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[]
  readyTimeoutMs?: number
}

export interface BenchProcess {
  name: string
  pid: number
  info: Record<string, unknown>
  /** Starts a CPU profile inside the process (node:inspector). */
  profileStart(): void
  /** Stops it and resolves once the process has written `file`. */
  profileStop(file: string): Promise<void>
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
const STDERR_LINES_SHOWN = 5

/** Wraps a command in `taskset -c <core>` when a core is given (taskset execs: same PID). */
export function pinned(core: number | undefined, command: string, args: string[]) {
  return core === undefined
    ? { command, args }
    : { command: 'taskset', args: ['-c', String(core), command, ...args] }
}

/** Starts `node --import tsx <file>` and waits for its ready line. */
export function startTarget(
  name: string,
  file: string,
  settings: unknown,
  options: StartOptions = {},
): Promise<BenchProcess> {
  const { command, args } = pinned(options.core, process.execPath, [
    ...(options.nodeArgs ?? []),
    '--import',
    'tsx',
    file,
  ])
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, BENCH_TARGET_SETTINGS: JSON.stringify(settings) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  running.add(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  exited.then(() => running.delete(child))
  // Stderr is shown line by line with the process's name, the first few lines only: a
  // client that hangs up mid-request (wrk at the end of a run) may make a server log a
  // line per open connection.
  let stderr = ''
  let shown = 0
  let suppressed = 0
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    if (stderr.length < 20_000) stderr += `${line}\n`
    if (shown < STDERR_LINES_SHOWN) {
      shown++
      process.stderr.write(`[${name}] ${line}\n`)
    } else suppressed++
  })
  child.once('exit', () => {
    if (suppressed) process.stderr.write(`[${name}] (${suppressed} more stderr lines not shown)\n`)
  })

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.stdin?.end()
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  const send = (command: ChildCommand) => child.stdin?.write(`${JSON.stringify(command)}\n`)
  let profiled: ((file: string) => void) | undefined
  const profileStop = (file: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} wrote no profile`)), 30_000)
      profiled = (written) => {
        if (written !== file) return
        clearTimeout(timer)
        resolve()
      }
      send({ cmd: 'profile-stop', file })
    })

  return new Promise<BenchProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(
        new Error(`${name} did not become ready within ${options.readyTimeoutMs ?? 30_000} ms`),
      )
    }, options.readyTimeoutMs ?? 30_000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited before it was ready (${code ?? signal}): ${stderr.trim()}`))
    })
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith(PROFILED_PREFIX)) {
        profiled?.(line.slice(PROFILED_PREFIX.length))
        return
      }
      if (!line.startsWith(READY_PREFIX)) {
        process.stdout.write(`[${name}] ${line}\n`)
        return
      }
      clearTimeout(timer)
      const info = JSON.parse(line.slice(READY_PREFIX.length)) as Record<string, unknown>
      resolve({
        name,
        pid: child.pid as number,
        info,
        profileStart: () => send({ cmd: 'profile-start' }),
        profileStop,
        stop,
      })
    })
  })
}

/** Registers a child started elsewhere (wrk) so an interrupted run still ends it. */
export function track(child: ChildProcess): void {
  running.add(child)
  child.once('exit', () => running.delete(child))
}

/** Last-resort cleanup: SIGKILL for every child still alive (by its own PID). */
export function killAll(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}
