import { describe, expect, it } from 'vitest'
import { BffError } from '../../src/errors/bff-error.js'
import { BatchedRateLimiter, type Schedule } from '../../src/rate-limit/batched-rate-limiter.js'
import { limiterKey, type RateLimit } from '../../src/rate-limit/rate-limiter.js'
import {
  MemoryRateLimitStore,
  type RateCount,
  type RateLimitStore,
} from '../../src/rate-limit/store.js'

/** The memory store, with every call recorded and a switch that makes it fail like a lost Redis. */
class CountingStore implements RateLimitStore {
  readonly calls: { key: string; increment: number; count?: number }[] = []
  down = false
  /** Runs inside each hit, before the count (a slow store: time passes meanwhile). */
  beforeHit: () => Promise<void> | void = () => {}
  readonly #inner: RateLimitStore

  constructor(inner: RateLimitStore) {
    this.#inner = inner
  }

  async hit(key: string, windowMs: number, increment = 1): Promise<RateCount> {
    const call: { key: string; increment: number; count?: number } = { key, increment }
    this.calls.push(call)
    await this.beforeHit()
    if (this.down) throw new Error('connection lost')
    const answer = await this.#inner.hit(key, windowMs, increment)
    call.count = answer.count
    return answer
  }

  increments(): number[] {
    return this.calls.map((call) => call.increment)
  }
}

/** A flush timer the test fires by hand. */
class ManualSchedule {
  scheduled: number[] = []
  cancelled = 0
  #run: (() => void) | null = null

  readonly schedule: Schedule = (ms, run) => {
    this.scheduled.push(ms)
    this.#run = run
    return () => {
      this.cancelled++
      this.#run = null
    }
  }

  get armed(): boolean {
    return this.#run !== null
  }

  fire(): void {
    const run = this.#run
    this.#run = null
    run?.()
  }
}

function setup(limit: RateLimit = { limit: 10, windowSeconds: 60 }) {
  let now = 1_000_000
  const clock = { now: () => now }
  const store = new CountingStore(new MemoryRateLimitStore(clock))
  const timer = new ManualSchedule()
  const limiter = new BatchedRateLimiter(store, 'api', limit, {
    clock,
    schedule: timer.schedule,
    flushIntervalMs: 100,
  })
  return {
    limiter,
    store,
    timer,
    advance: (ms: number) => {
      now += ms
    },
    /** `n` checks of `id` one after the other; how many were admitted. */
    async checks(id: string, n: number): Promise<number> {
      let admitted = 0
      for (let i = 0; i < n; i++) {
        await Promise.resolve(limiter.count(id)).then(
          () => admitted++,
          (error: unknown) => {
            if (!(error instanceof BffError && error.code === 'rate_limited')) throw error
          },
        )
      }
      return admitted
    },
  }
}

async function refusal(promise: Promise<void>): Promise<BffError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(BffError)
  return error as BffError
}

describe('BatchedRateLimiter', () => {
  it('takes the exact path on the first request of a session, under a hashed key', async () => {
    const t = setup()
    await Promise.resolve(t.limiter.count('session-key'))
    expect(t.store.calls).toEqual([
      { key: limiterKey('api', 'session-key'), increment: 1, count: 1 },
    ])
    expect(t.store.calls[0]?.key).toMatch(/^api:\{[\w-]{43}\}$/)
    expect(t.store.calls[0]?.key).not.toContain('session-key')
  })

  it('counts the next requests locally: no store call, one flush scheduled', async () => {
    const t = setup()
    await Promise.resolve(t.limiter.count('s'))
    expect(t.timer.scheduled).toEqual([])
    for (let i = 0; i < 3; i++) await Promise.resolve(t.limiter.count('s'))
    expect(t.store.calls).toHaveLength(1)
    expect(t.timer.scheduled).toEqual([100])
  })

  it('countWithoutStore refuses, counting nothing, wherever count would ask the store', async () => {
    const t = setup({ limit: 6, windowSeconds: 60 })
    // No window known yet: refused, and nothing created or scheduled.
    expect(t.limiter.countWithoutStore('s')).toBe(false)
    expect(t.limiter.trackedKeys).toBe(0)
    expect(t.timer.armed).toBe(false)
    await Promise.resolve(t.limiter.count('s')) // exact: the store counts 1
    expect(t.limiter.countWithoutStore('s')).toBe(true) // 1 + 1 pending < 3
    expect(t.limiter.countWithoutStore('s')).toBe(true) // 1 + 2 pending < 3 → 3 now
    expect(t.limiter.countWithoutStore('s')).toBe(false) // at half the limit
    // The refusal counted nothing: the next check sends the two pending hits plus itself.
    await Promise.resolve(t.limiter.count('s'))
    expect(t.store.increments()).toEqual([1, 3])
    // An ended window is refused too (check starts a new one with the store).
    t.advance(60_000)
    expect(t.limiter.countWithoutStore('s')).toBe(false)
    expect(t.store.calls).toHaveLength(2)
  })

  it('sends the sum of each key’s pending hits in one call at the flush', async () => {
    const t = setup()
    await t.checks('a', 4)
    await t.checks('b', 3)
    t.timer.fire()
    await t.limiter.flush()
    expect(t.store.calls.slice(2)).toEqual([
      { key: limiterKey('api', 'a'), increment: 3, count: 4 },
      { key: limiterKey('api', 'b'), increment: 2, count: 3 },
    ])
    expect(t.timer.armed).toBe(false)
    await Promise.resolve(t.limiter.count('a'))
    expect(t.store.calls).toHaveLength(4)
  })

  it('sends every request to the store once known plus pending reaches half the limit', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    await t.checks('s', 10)
    // 1 exact, 4 local (1 + 4 = 5 = half), then each request with what is pending.
    expect(t.store.increments()).toEqual([1, 5, 1, 1, 1, 1])
    expect(t.store.calls.at(-1)?.count).toBe(10)
  })

  it('goes exact as soon as a flush tells it another instance brought the count to half', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    const other = new BatchedRateLimiter(
      t.store,
      'api',
      { limit: 10, windowSeconds: 60 },
      {
        clock: { now: () => 1_000_000 },
        schedule: new ManualSchedule().schedule,
      },
    )
    await t.checks('s', 2) // 1 exact, 1 local
    for (let i = 0; i < 4; i++) await other.count('s') // 1 exact, 3 local
    await other.flush()
    expect(t.store.increments()).toEqual([1, 1, 3])
    await Promise.resolve(t.limiter.count('s')) // this instance still counts 1 + 2: local
    expect(t.store.calls).toHaveLength(3)
    await t.limiter.flush()
    expect(t.store.calls.at(-1)).toMatchObject({ increment: 2, count: 7 })
    await Promise.resolve(t.limiter.count('s'))
    expect(t.store.calls.at(-1)).toMatchObject({ increment: 1, count: 8 })
  })

  it('counts the hits of a flush in flight, so requests meanwhile reach half the limit', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    await t.checks('s', 4) // 1 exact, 3 local
    let open = () => {}
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    t.store.beforeHit = () => gate
    const flushing = t.limiter.flush()
    await Promise.resolve(t.limiter.count('s')) // 1 known + 3 on the wire + 1: local
    const exact = Promise.resolve(t.limiter.count('s')) // 5 of 10: to the store
    expect(t.store.increments()).toEqual([1, 3, 2])
    open()
    await Promise.all([flushing, exact])
    expect(t.store.calls.at(-1)?.count).toBe(6)
  })

  it('refuses past the limit with 429 rate_limited and Retry-After until the window ends', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    expect(await t.checks('s', 10)).toBe(10)
    t.advance(30_500)
    const error = await refusal(Promise.resolve(t.limiter.count('s')))
    expect(error.code).toBe('rate_limited')
    expect(error.status).toBe(429)
    expect(error.retryAfterSeconds).toBe(30)
    expect(error.detail).toBe('api: 11 requests in the window (limit 10)')
    expect(await t.checks('s', 5)).toBe(0)
    expect(await t.checks('other', 1)).toBe(1)
  })

  it('starts again with an exact hit when the window ends', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    expect(await t.checks('s', 12)).toBe(10)
    t.advance(60_000)
    const calls = t.store.calls.length
    expect(await t.checks('s', 1)).toBe(1)
    expect(t.store.calls.slice(calls)).toEqual([
      { key: limiterKey('api', 's'), increment: 1, count: 1 },
    ])
  })

  it('drops hits still pending when their window ends, instead of counting them in the next', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    await t.checks('s', 3)
    t.advance(60_000)
    await t.limiter.flush()
    await Promise.resolve(t.limiter.count('s'))
    expect(t.store.calls.slice(1)).toEqual([
      { key: limiterKey('api', 's'), increment: 1, count: 1 },
    ])
  })

  it('admits exactly the limit on one instance, with concurrent requests and flushes in flight', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    t.store.beforeHit = () => new Promise((resolve) => setImmediate(resolve))
    let admitted = 0
    const count = (p: Promise<void>) => p.then(() => admitted++).catch(() => {})
    await count(Promise.resolve(t.limiter.count('s')))
    for (let round = 0; round < 8; round++) {
      // The flush leaves first, so these requests run while its hits are on the wire.
      const flushing = t.limiter.flush()
      await Promise.all([
        flushing,
        ...Array.from({ length: 3 }, () => count(Promise.resolve(t.limiter.count('s')))),
      ])
    }
    await t.limiter.flush()
    expect(admitted).toBe(10)
    const total = t.store.calls.reduce((sum, call) => sum + call.increment, 0)
    expect(total).toBe(25)
  })

  it('after a failed flush, sends the hits it could not send with the next request', async () => {
    const t = setup()
    await t.checks('s', 4)
    t.store.down = true
    await t.limiter.flush()
    t.store.down = false
    await Promise.resolve(t.limiter.count('s'))
    expect(t.store.calls.slice(1)).toEqual([
      { key: limiterKey('api', 's'), increment: 3 },
      { key: limiterKey('api', 's'), increment: 4, count: 5 },
    ])
  })

  it('retries a failed flush at the next tick', async () => {
    const t = setup()
    await t.checks('s', 3)
    t.store.down = true
    await t.limiter.flush()
    expect(t.timer.armed).toBe(true)
    t.store.down = false
    await t.limiter.flush()
    expect(t.store.calls.at(-1)).toMatchObject({ increment: 2, count: 3 })
  })

  it('answers 503 store_unavailable while the store is down, first request or after a failed flush', async () => {
    const t = setup()
    t.store.down = true
    const first = await refusal(Promise.resolve(t.limiter.count('s')))
    expect([first.code, first.status]).toEqual(['store_unavailable', 503])
    t.store.down = false
    await t.checks('s', 3)
    t.store.down = true
    await t.limiter.flush()
    const later = await refusal(Promise.resolve(t.limiter.count('s')))
    expect([later.code, later.status]).toEqual(['store_unavailable', 503])
    expect(t.store.calls.at(-1)?.increment).toBe(3)
    t.store.down = false
    await Promise.resolve(t.limiter.count('s'))
    expect(t.store.calls.at(-1)).toMatchObject({ increment: 3, count: 4 })
  })

  it('schedules one flush timer for all keys, only when something is pending', async () => {
    const t = setup()
    await t.checks('a', 1)
    await t.checks('b', 1)
    expect(t.timer.scheduled).toEqual([])
    await t.checks('a', 2)
    await t.checks('b', 2)
    expect(t.timer.scheduled).toEqual([100])
    t.timer.fire()
    await t.limiter.flush()
    expect(t.timer.armed).toBe(false)
    await t.checks('a', 1)
    expect(t.timer.scheduled).toEqual([100, 100])
  })

  it('sweeps ended windows, so the state cannot grow without bound', async () => {
    const t = setup()
    for (let i = 0; i < 50; i++) await t.checks(`s${i}`, 2)
    expect(t.limiter.trackedKeys).toBe(50)
    t.advance(60_000)
    await Promise.resolve(t.limiter.count('fresh'))
    expect(t.limiter.trackedKeys).toBe(1)
    const calls = t.store.calls.length
    await t.limiter.flush()
    expect(t.store.calls).toHaveLength(calls)
  })

  it('takes a store answer from a window that began after its own as a fresh count', async () => {
    const t = setup({ limit: 10, windowSeconds: 60 })
    await t.checks('s', 8)
    t.advance(59_950)
    // The request leaves in the old window and reaches the store in the next one.
    t.store.beforeHit = () => t.advance(100)
    await Promise.resolve(t.limiter.count('s'))
    expect(t.store.calls.at(-1)).toMatchObject({ increment: 1, count: 1 })
    t.store.beforeHit = () => {}
    await Promise.resolve(t.limiter.count('s')) // 1 of 10 in the new window: local again
    expect(t.store.calls).toHaveLength(5)
  })

  it('sends what is pending at close(), cancels the timer and goes exact afterwards', async () => {
    const t = setup()
    await t.checks('s', 3)
    await t.limiter.close()
    expect(t.timer.cancelled).toBe(1)
    expect(t.store.calls.at(-1)).toMatchObject({ increment: 2, count: 3 })
    await Promise.resolve(t.limiter.count('s'))
    expect(t.store.calls.at(-1)).toMatchObject({ increment: 1, count: 4 })
    expect(t.timer.armed).toBe(false)
  })

  it.each([
    [{ limit: 0, windowSeconds: 60 }, {}],
    [{ limit: 1.5, windowSeconds: 60 }, {}],
    [{ limit: 10, windowSeconds: 0 }, {}],
    [{ limit: 10, windowSeconds: 60 }, { flushIntervalMs: 0 }],
    [{ limit: 10, windowSeconds: 1 }, { flushIntervalMs: 1000 }],
  ])('refuses the limit %o with options %o', (limit, options) => {
    const store = new MemoryRateLimitStore({ now: () => 0 })
    expect(
      () => new BatchedRateLimiter(store, 'api', limit, { clock: { now: () => 0 }, ...options }),
    ).toThrow(/rate limit api: expected/)
  })
})
