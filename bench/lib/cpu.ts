import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** CPU seconds (user + system) a process has used so far; 0 where /proc is missing. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / clockTicks()
  } catch {
    return 0
  }
}

/** Per-core busy and total jiffies from /proc/stat. */
export function coreTimes(): Map<string, { busy: number; total: number }> {
  const times = new Map<string, { busy: number; total: number }>()
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const match = /^(cpu\d+)\s+(.*)$/.exec(line)
      if (!match?.[1] || !match[2]) continue
      const v = match[2].split(/\s+/).map(Number)
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
      const idle = (v[3] ?? 0) + (v[4] ?? 0)
      times.set(match[1], { busy: total - idle, total })
    }
  } catch {
    // no /proc: figures stay empty
  }
  return times
}

/** Busy share (0..1) of each core between two coreTimes() snapshots. */
export function coreBusy(
  before: Map<string, { busy: number; total: number }>,
  after: Map<string, { busy: number; total: number }>,
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [cpu, a] of after) {
    const b = before.get(cpu)
    if (!b || a.total === b.total) continue
    out[cpu] = (a.busy - b.busy) / (a.total - b.total)
  }
  return out
}
