import { spawn } from 'node:child_process'
import { once } from 'node:events'

export interface ChildService<T> {
  /** What the child printed as its first line (JSON): its ports. */
  ready: T
  stop(): Promise<void>
}

/**
 * A test service in its own process (`node --import tsx main`), so its work never runs on the
 * event loop a test measures. The child prints one JSON line once it listens and stops on SIGTERM.
 */
export async function startChildService<T>(
  main: string,
  env: Record<string, string> = {},
): Promise<ChildService<T>> {
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(child, 'exit')
  const ready = await new Promise<T>((resolve, reject) => {
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk
      const newline = output.indexOf('\n')
      if (newline >= 0) resolve(JSON.parse(output.slice(0, newline)) as T)
    })
    child.once('exit', (code) => reject(new Error(`${main} exited (${code}) before it was ready`)))
  })
  return {
    ready,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}
