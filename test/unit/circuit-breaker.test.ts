import { describe, expect, it } from 'vitest'
import { CircuitBreaker, type CircuitState } from '../../src/resilience/circuit-breaker.js'

function breaker(failuresToOpen = 1) {
  let now = 1_000_000
  const transitions: string[] = []
  const circuit = new CircuitBreaker({
    name: 'store',
    failuresToOpen,
    probeAfterMs: 500,
    probeTimeoutMs: 2000,
    clock: { now: () => now },
    onTransition: (name, from: CircuitState, to: CircuitState) =>
      transitions.push(`${name} ${from}>${to}`),
  })
  return { circuit, transitions, advance: (ms: number) => (now += ms) }
}

describe('CircuitBreaker', () => {
  it('lets everything through while closed, and counts only consecutive failures', () => {
    const { circuit } = breaker(3)
    circuit.failure()
    circuit.failure()
    circuit.success()
    circuit.failure()
    circuit.failure()
    expect(circuit.state).toBe('closed')
    expect(circuit.allow()).toBe(true)
    circuit.failure()
    expect(circuit.state).toBe('open')
  })

  it('counts each caller once in a streak: one caller failing again and again does not open it', () => {
    const { circuit } = breaker(3)
    for (let i = 0; i < 50; i++) circuit.failure('session-a')
    expect(circuit.state).toBe('closed')
    circuit.failure('session-b')
    expect(circuit.state).toBe('closed')
    circuit.failure('session-c')
    expect(circuit.state).toBe('open')
  })

  it('refuses every call once open, until the probe is due', () => {
    const { circuit, advance } = breaker()
    circuit.failure()
    expect(circuit.allow()).toBe(false)
    expect(circuit.refusing).toBe(true)
    expect(circuit.retryAfterSeconds).toBe(1)
    advance(499)
    expect(circuit.allow()).toBe(false)
  })

  it('lets exactly one probe through when due; its success closes the circuit', () => {
    const { circuit, advance, transitions } = breaker()
    circuit.failure()
    advance(500)
    expect(circuit.refusing).toBe(false)
    expect(circuit.allow()).toBe(true)
    expect(circuit.state).toBe('half_open')
    expect(circuit.allow()).toBe(false)
    expect(circuit.allow()).toBe(false)
    circuit.success()
    expect(circuit.allow()).toBe(true)
    expect(transitions).toEqual([
      'store closed>open',
      'store open>half_open',
      'store half_open>closed',
    ])
  })

  it("reopens on the probe's failure and waits a whole interval again", () => {
    const { circuit, advance } = breaker(5)
    for (let i = 0; i < 5; i++) circuit.failure()
    advance(500)
    expect(circuit.allow()).toBe(true)
    circuit.failure() // one failure is enough in half-open
    expect(circuit.state).toBe('open')
    advance(499)
    expect(circuit.allow()).toBe(false)
    advance(1)
    expect(circuit.allow()).toBe(true)
  })

  it('frees a probe that went quiet (timeout) or was given back (release)', () => {
    const { circuit, advance } = breaker()
    circuit.failure()
    advance(500)
    expect(circuit.allow()).toBe(true)
    advance(1999)
    expect(circuit.allow()).toBe(false)
    advance(1)
    expect(circuit.allow()).toBe(true)
    circuit.release()
    expect(circuit.allow()).toBe(true)
    expect(circuit.allow()).toBe(false)
  })

  it('lets a probe through when the clock went back, rather than staying open', () => {
    const { circuit, advance } = breaker()
    circuit.failure()
    advance(-60_000)
    expect(circuit.allow()).toBe(true)
  })

  it('reports one transition per change of state, however many calls it refuses', () => {
    const { circuit, transitions } = breaker()
    circuit.failure()
    for (let i = 0; i < 1000; i++) circuit.allow()
    circuit.failure()
    expect(transitions).toEqual(['store closed>open'])
  })
})
