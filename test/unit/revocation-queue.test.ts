import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'
import type { TokenHint } from '../../src/session/revocation.js'
import {
  type RevocationJobOutcome,
  RevocationQueue,
  type RevocationQueueOptions,
} from '../../src/session/revocation-queue.js'
import type { TokenSet } from '../../src/session/types.js'

/** A provider whose every revocation waits until the test answers it. */
function heldProvider() {
  const calls: Array<{ token: string; hint: TokenHint; answer: (ok: boolean | Error) => void }> = []
  let inFlight = 0
  let peak = 0
  return {
    calls,
    peak: () => peak,
    inFlight: () => inFlight,
    revoke(token: string, hint: TokenHint): Promise<boolean> {
      inFlight++
      peak = Math.max(peak, inFlight)
      return new Promise<boolean>((resolve, reject) => {
        calls.push({
          token,
          hint,
          answer: (ok) => {
            inFlight--
            if (ok instanceof Error) reject(ok)
            else resolve(ok)
          },
        })
      })
    },
  }
}

function setup(options: Partial<RevocationQueueOptions> = {}) {
  const provider = heldProvider()
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>)
      done()
    },
  })
  const outcomes: Partial<Record<RevocationJobOutcome, number>> = {}
  const backlog: number[] = []
  let now = 1_000_000
  const queue = new RevocationQueue({
    oidc: provider,
    logger: createLogger('info', sink),
    clock: { now: () => now },
    metrics: {
      revocation: (outcome, count = 1) => {
        outcomes[outcome] = (outcomes[outcome] ?? 0) + count
      },
      revocationBacklog: (size) => backlog.push(size),
    },
    concurrency: 2,
    maxBacklog: 100,
    ...options,
  })
  return {
    queue,
    provider,
    lines,
    outcomes,
    backlog,
    advance: (ms: number) => {
      now += ms
    },
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

function sessions(count: number, prefix = 's'): TokenSet[] {
  return Array.from({ length: count }, (_, i) => ({
    accessToken: `${prefix}${i}-access`,
    refreshToken: `${prefix}${i}-refresh`,
    tokenType: 'Bearer',
    accessTokenExpiresAt: 0,
    obtainedAt: 0,
  }))
}

/** Answers every call made so far (and those they let start) until nothing is in flight. */
async function answerAll(provider: ReturnType<typeof heldProvider>, ok: boolean | Error = true) {
  for (let answered = 0; answered < provider.calls.length; answered++) {
    provider.calls[answered]?.answer(ok)
    await tick()
  }
}

describe('RevocationQueue', () => {
  it('never has more revocations in flight than its concurrency, and runs every one', async () => {
    const t = setup({ concurrency: 3 })
    t.queue.enqueue(sessions(10), 'logout')
    await tick()
    expect(t.provider.inFlight()).toBe(3)
    await answerAll(t.provider)
    expect(t.provider.peak()).toBe(3)
    expect(t.provider.calls).toHaveLength(20)
    expect(t.outcomes).toEqual({ revoked: 20 })
    expect(t.queue.size).toBe(0)
    expect(t.backlog.at(-1)).toBe(0)
  })

  it('revokes the refresh token of a session before its access token', async () => {
    const t = setup({ concurrency: 1 })
    t.queue.enqueue(sessions(1), 'logout')
    await answerAll(t.provider)
    expect(t.provider.calls.map((c) => c.hint)).toEqual(['refresh_token', 'access_token'])
  })

  it('puts the signing-out session ahead of everything waiting and gives its outcome', async () => {
    const t = setup({ concurrency: 2 })
    t.queue.enqueue(sessions(5, 'other'), 'logout')
    const outcome = t.queue.revokeFirst(sessions(1, 'mine')[0] as TokenSet, 'logout')
    await tick()
    // Two of the others were already in flight; the next two slots are this session's.
    t.provider.calls[0]?.answer(true)
    t.provider.calls[1]?.answer(true)
    await tick()
    expect(t.provider.calls.slice(2).map((c) => c.token)).toEqual(['mine0-refresh', 'mine0-access'])
    t.provider.calls[2]?.answer(true)
    t.provider.calls[3]?.answer(new TypeError('fetch failed', { cause: new Error('ECONNREFUSED') }))
    expect(await outcome).toBe('provider_unreachable')
    expect(t.lines).toContainEqual(
      expect.objectContaining({ event: 'logout.revocation_failed', hint: 'access_token' }),
    )
  })

  it('drops what does not fit in the backlog, counts it, and warns once a minute', async () => {
    const t = setup({ concurrency: 1, maxBacklog: 100 })
    t.queue.enqueue(sessions(80), 'backchannel')
    await tick()
    // 160 tokens: 100 fit in the backlog, 60 do not; then one of them starts.
    expect(t.outcomes.dropped).toBe(60)
    expect(t.provider.inFlight()).toBe(1)
    t.queue.enqueue(sessions(1), 'backchannel')
    expect(t.outcomes.dropped).toBe(61)
    const warnings = () => t.lines.filter((l) => l.event === 'revocation.dropped')
    expect(warnings()).toHaveLength(1)
    expect(warnings()[0]).toMatchObject({ count: 60, reason: 'backlog full', level: 40 })
    t.advance(60_000)
    t.queue.enqueue(sessions(1), 'backchannel')
    expect(warnings()).toHaveLength(2)
    expect(warnings()[1]).toMatchObject({ count: 2, heldBack: 1 })
    expect(t.queue.size).toBe(101)
    expect(JSON.stringify(t.lines)).not.toContain('-refresh')
  })

  it('logs failures of queued revocations at most once a minute per source, never the token', async () => {
    const t = setup({ concurrency: 4 })
    t.queue.enqueue(sessions(4), 'backchannel')
    await answerAll(t.provider, new Error('boom'))
    const failures = t.lines.filter((l) => l.event === 'backchannel.revocation_failed')
    expect(failures).toHaveLength(1)
    expect(t.outcomes).toEqual({ failed: 8 })
    expect(t.lines).toContainEqual(
      expect.objectContaining({ event: 'revocation.queue_drained', failed: 8 }),
    )
    expect(JSON.stringify(t.lines)).not.toMatch(/s\d-(access|refresh)/)
  })

  it('on close lets the queue drain within the bound, then drops what still waits', async () => {
    const t = setup({ concurrency: 1 })
    t.queue.enqueue(sessions(3), 'logout')
    await tick()
    t.provider.calls[0]?.answer(true)
    const started = Date.now()
    await t.queue.close(50)
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    // One revoked, one in flight at the deadline, four never started.
    expect(t.outcomes).toMatchObject({ revoked: 1, dropped: 4 })
    expect(t.lines).toContainEqual(
      expect.objectContaining({ event: 'revocation.dropped', reason: 'shutdown', count: 4 }),
    )
    t.queue.enqueue(sessions(1), 'logout')
    expect(t.outcomes.dropped).toBe(6)
    expect(t.provider.calls).toHaveLength(2)
  })

  it('on close returns at once when nothing waits', async () => {
    const t = setup()
    const started = Date.now()
    await t.queue.close(10_000)
    expect(Date.now() - started).toBeLessThan(100)
  })
})
