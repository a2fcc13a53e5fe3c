import { describe, expect, it } from 'vitest'
import {
  Admission,
  type AdmissionState,
  type AdmissionStep,
  NEEDS_IO,
} from '../../src/api/admission.js'
import { BffError } from '../../src/errors/bff-error.js'
import type { UpstreamMatch } from '../../src/proxy/upstreams.js'
import type { ActiveSession, TokenSet } from '../../src/session/types.js'

const request = { method: 'GET', path: '/api/x', search: '', header: () => undefined, cookie: 'c' }
const io = { clearCookie: () => {} }

/** Steps that fill in what an admission needs, logging what ran; `io` names steps that need I/O. */
function world(options: { io?: string[]; refuse?: string; slots?: number } = {}) {
  const log: string[] = []
  let slots = options.slots ?? 1
  const step = (name: string, fill: (s: AdmissionState) => void, takes = false): AdmissionStep => ({
    name,
    takes,
    now(state) {
      log.push(`now ${name}`)
      if (options.refuse === name) throw new BffError('csrf_failed')
      if (options.io?.includes(name)) return NEEDS_IO
      fill(state)
      return undefined
    },
    async later(state) {
      log.push(`later ${name}`)
      fill(state)
    },
    undo: takes ? () => log.push(`undo ${name}`) : undefined,
  })
  const steps = [
    step('route', (s) => {
      s.match = { route: { token: 'user' } } as UpstreamMatch
    }),
    step('session', (s) => {
      s.session = { key: 'k' } as ActiveSession
    }),
    step(
      'slot',
      (s) => {
        if (slots === 0) throw new BffError('too_many_in_flight')
        slots--
        s.release = () => {
          slots++
        }
      },
      true,
    ),
    step('count', () => {}, true),
    step('token', (s) => {
      s.tokens = { accessToken: 't' } as TokenSet
    }),
  ]
  const admitted: AdmissionState[] = []
  return {
    admission: new Admission(steps, (s) => admitted.push(s)),
    log,
    admitted,
    slots: () => slots,
  }
}

describe('Admission', () => {
  it('runs every step in order and stays synchronous when none needs I/O', () => {
    const w = world()
    const result = w.admission.admit(request, io)
    expect(result).not.toBeInstanceOf(Promise)
    expect(w.log).toEqual(['now route', 'now session', 'now slot', 'now count', 'now token'])
    expect(w.admitted).toHaveLength(1)
  })

  it('awaits the I/O path of a step that needs it, then goes on with the next steps', async () => {
    const w = world({ io: ['session'] })
    const result = await w.admission.admit(request, io)
    expect(result.tokens?.accessToken).toBe('t')
    expect(w.log).toEqual([
      'now route',
      'now session',
      'later session',
      'now slot',
      'now count',
      'now token',
    ])
  })

  it('gives back what earlier steps took when a later one refuses', async () => {
    const w = world({ io: ['token'], refuse: 'token' })
    expect(() => w.admission.admit(request, io)).toThrow(BffError)
    expect(w.log).toContain('undo slot')
    expect(w.admitted).toHaveLength(0)
  })

  it('without I/O: runs every check before any take, and takes nothing when a check needs I/O', () => {
    const w = world({ io: ['token'] })
    expect(w.admission.admitWithoutIo(request)).toBeUndefined()
    expect(w.log).toEqual(['now route', 'now session', 'now token'])
    expect(w.slots()).toBe(1)
  })

  it('without I/O: undoes the takes before a take that needs I/O, and hands over', () => {
    const w = world({ io: ['count'] })
    expect(w.admission.admitWithoutIo(request)).toBeUndefined()
    expect(w.log).toEqual([
      'now route',
      'now session',
      'now token',
      'now slot',
      'now count',
      'undo slot',
    ])
  })

  it('without I/O: hands over a refusal instead of throwing it (the route answers it)', () => {
    expect(world({ refuse: 'session' }).admission.admitWithoutIo(request)).toBeUndefined()
    expect(world({ slots: 0 }).admission.admitWithoutIo(request)).toBeUndefined()
  })

  it('without I/O: admits with the same result as the route would', () => {
    const w = world()
    const admitted = w.admission.admitWithoutIo(request)
    expect(admitted?.tokens?.accessToken).toBe('t')
    expect(w.slots()).toBe(0)
    admitted?.release()
    expect(w.slots()).toBe(1)
  })
})
