import { readFileSync } from 'node:fs'

/**
 * The process's soft limit on open files (`ulimit -n`; Node raises it to the hard limit at
 * start), read from Linux's /proc/self/limits. Undefined where that file does not exist or says
 * `unlimited`: then nothing can be checked against it.
 */
export function readOpenFileLimit(file = '/proc/self/limits'): number | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(text)?.[1]
  return soft === undefined ? undefined : Number(soft)
}
