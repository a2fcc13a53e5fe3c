import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { BurstLog } from '../../src/observability/burst-log.js'

describe('BurstLog', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const make = () => {
    const lines: Record<string, number>[] = []
    const log = new BurstLog({
      reasons: ['refused', 'timed_out'] as const,
      intervalMs: 10_000,
      write: (counts) => lines.push(counts),
    })
    return { log, lines }
  }

  it('writes one line for a burst, with every count, when its window closes', () => {
    const { log, lines } = make()
    for (let i = 0; i < 3000; i++) log.note('timed_out')
    log.note('refused')
    expect(lines).toEqual([])
    vi.advanceTimersByTime(9_999)
    expect(lines).toEqual([])
    vi.advanceTimersByTime(1)
    expect(lines).toEqual([{ refused: 1, timed_out: 3000 }])
  })

  it('writes at most one line per window while events keep coming', () => {
    const { log, lines } = make()
    for (let second = 0; second < 35; second++) {
      for (let i = 0; i < 100; i++) log.note('refused')
      vi.advanceTimersByTime(1000)
    }
    vi.advanceTimersByTime(10_000)
    expect(lines).toHaveLength(4)
    expect(lines.reduce((sum, line) => sum + (line.refused ?? 0), 0)).toBe(3500)
  })

  it('writes nothing when nothing happened, and what it counted on flush', () => {
    const { log, lines } = make()
    log.flush()
    vi.advanceTimersByTime(60_000)
    expect(lines).toEqual([])
    log.note('refused')
    log.flush()
    expect(lines).toEqual([{ refused: 1, timed_out: 0 }])
    vi.advanceTimersByTime(60_000)
    expect(lines).toHaveLength(1)
  })
})
