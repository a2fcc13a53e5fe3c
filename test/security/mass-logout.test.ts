import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { systemClock } from '../../src/lib/clock.js'
import { randomId } from '../../src/lib/random.js'
import { SessionService } from '../../src/session/session-service.js'
import { TokenCipher } from '../../src/session/token-cipher.js'
import { DELETE_BATCH_SIZE } from '../../src/store/interfaces.js'
import { changeFeedLive, storedSessionOf } from '../support/broker.js'
import { type LoopFigures, watchEventLoop } from '../support/event-loop-watch.js'
import { forgeLogoutToken, postLogoutToken } from '../support/logout-token.js'
import { startRedisCommandMeter } from '../support/redis-command-meter.js'
import { type RevocationEndpoint, startRevocationEndpoint } from '../support/revocation-endpoint.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import { runCli } from '../support/sessions-cli.js'

/**
 * Issue 12 item 6: ending thousands of sessions of one user at once (sign out everywhere,
 * a back-channel logout naming only `sub`, the operator CLI) must not stall the broker.
 * The broker runs in this process, so this process's event loop is the broker's; the
 * revocation endpoint runs in a child process (its work is not measured here), and the
 * in-process scripted provider only serves the sign-in before the measurement.
 */
const SESSIONS = 5_000
const TOKENS = 2 * SESSIONS
/** The issue's bound on any stall of the broker's event loop, while the process is on a CPU. */
const MAX_STALL_MS = 100
/**
 * By wall clock (monitorEventLoopDelay) a loaded shared 2-core machine adds the time it gives
 * other processes (seen: 80 ms late with 5 ms of this process's CPU); the unbounded code
 * stalled 8,043 ms here.
 */
const MAX_WALL_STALL_MS = 1_000
/** Generous for a loaded 2-core machine; the unbounded version took 12.6 s. */
const MAX_ANSWER_MS = 5_000
/** The endpoint holds each revocation this long, so concurrency shows at the provider. */
const REVOCATION_DELAY_MS = 5
/** MULTI, HMGET, DEL, PUBLISH, EXEC: the commands of one atomic delete-and-announce. */
const COMMANDS_PER_DELETE = 5
/** The meter holds Redis's replies this long: a client that sends everything at once shows it. */
const REDIS_LATENCY_MS = 5

const endpoint = {} as { current: RevocationEndpoint }
beforeAll(async () => {
  endpoint.current = await startRevocationEndpoint({ delayMs: REVOCATION_DELAY_MS })
})
afterAll(async () => {
  await endpoint.current?.stop()
})

const t = useScriptedBroker(
  {},
  {},
  // Read when the broker discovers the provider, once the endpoint is up.
  { metadata: (d) => ({ ...d, revocation_endpoint: endpoint.current.url }) },
)

/** Sessions minted straight into the broker's store (as sign-ins would leave them); returns their tokens. */
async function mintSessions(count: number, owner: { iss: string; sub: string }) {
  const { bff, store } = t.broker
  const service = new SessionService(
    { ...bff.config, sessionCacheSeconds: 0 },
    store.stores,
    systemClock,
    {
      cipher: new TokenCipher(bff.config.tokenEncryptionKeys),
    },
  )
  const tokens: string[] = []
  for (let i = 0; i < count; i += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, count - i) }, (_, j) => {
        const now = Date.now()
        const accessToken = `minted-access-${randomId(12)}`
        const refreshToken = `minted-refresh-${randomId(12)}`
        tokens.push(accessToken, refreshToken)
        return service.create({
          ...owner,
          sid: `minted-sid-${i + j}`,
          claims: { sub: owner.sub },
          tokens: {
            accessToken,
            refreshToken,
            idToken: `minted-id-${randomId(12)}`,
            tokenType: 'Bearer',
            accessTokenExpiresAt: now + 300_000,
            obtainedAt: now,
          },
        })
      }),
    )
  }
  return tokens
}

/** Sessions of the user that still exist (the index outlives them). */
async function userSessionCount(sub: string): Promise<number> {
  const { store } = t.broker
  const keys = await store.findSessions({ iss: t.provider.issuer, sub })
  if (keys.length === 0) return 0
  return store.redis.exists(...keys.map((key) => store.redisKeyOfSession(key)))
}

/** A signed-in user (a real sign-in) plus 4,999 more sessions of the same iss and sub. */
async function userWithManySessions() {
  const { browser } = await t.signIn()
  const own = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
  const ownTokens = [own.session?.tokens.refreshToken, own.session?.tokens.accessToken] as string[]
  const minted = await mintSessions(SESSIONS - 1, { iss: t.provider.issuer, sub: 'user-1' })
  expect(await userSessionCount('user-1')).toBe(SESSIONS)
  return { browser, ownTokens, allTokens: [...ownTokens, ...minted] }
}

async function allRevoked(): Promise<number> {
  const started = performance.now()
  const deadline = Date.now() + 120_000
  while ((await endpoint.current.stats()).total < TOKENS && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return performance.now() - started
}

function expectNoStall(loop: LoopFigures) {
  expect(loop.maxBusyStallMs).toBeLessThan(MAX_STALL_MS)
  expect(loop.maxStallMs).toBeLessThan(MAX_WALL_STALL_MS)
  expect(loop.probes).toBeGreaterThan(0)
  expect(loop.probeFailures).toBe(0)
}

function report(what: string, figures: Record<string, unknown>, loop: LoopFigures) {
  console.log(
    `${what}: ${Object.entries({ ...figures, ...loop })
      .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : v}`)
      .join(' ')}`,
  )
}

/**
 * After a mass logout answered in `answerMs`: waits until every token is revoked, prints the
 * figures, and checks the answer was quick, the loop never stalled, the provider never saw
 * more than the setting at once, and exactly these tokens were revoked.
 */
async function expectDrained(
  what: string,
  run: {
    answerMs: number
    revokedAtAnswer: number
    watch: ReturnType<typeof watchEventLoop>
    allTokens: readonly string[]
  },
) {
  const drainMs = run.answerMs + (await allRevoked())
  const loop = await run.watch.stop()
  const stats = await endpoint.current.stats()
  const concurrencySetting = t.broker.bff.config.revocationConcurrency
  report(
    what,
    {
      answerMs: run.answerMs,
      revokedAtAnswer: run.revokedAtAnswer,
      allRevokedMs: drainMs,
      revocations: stats.total,
      peakConcurrentRevocations: stats.peak,
      concurrencySetting,
    },
    loop,
  )
  expect(await userSessionCount('user-1')).toBe(0)
  expect(run.revokedAtAnswer).toBeLessThan(TOKENS)
  expect(run.answerMs).toBeLessThan(MAX_ANSWER_MS)
  expectNoStall(loop)
  expect(stats.peak).toBeLessThanOrEqual(concurrencySetting)
  expect(stats.total).toBe(TOKENS)
  expect(new Set(await endpoint.current.tokens())).toEqual(new Set(run.allTokens))
}

describe('ending 5,000 sessions of one user at once', () => {
  it('sign out everywhere answers at once, waits only for this session’s revocation, and revokes the other 9,998 tokens a few at a time without stalling the event loop', {
    timeout: 180_000,
  }, async () => {
    const { browser, ownTokens, allTokens } = await userWithManySessions()
    await endpoint.current.reset()
    const watch = watchEventLoop(`${t.broker.url}/healthz`)
    const started = performance.now()
    const response = await browser.request(`${t.broker.url}/auth/logout?scope=all`, {
      method: 'POST',
      initiator: t.broker.url,
    })
    const answerMs = performance.now() - started
    const atAnswer = await endpoint.current.tokens()
    expect(response.status).toBe(200)
    // This session's own revocation is part of the answer; the others are not.
    expect(atAnswer).toEqual(expect.arrayContaining(ownTokens))
    await expectDrained('logout scope=all', {
      answerMs,
      revokedAtAnswer: atAnswer.length,
      watch,
      allTokens,
    })
  })

  it('a back-channel logout naming only sub answers at once and revokes the 10,000 tokens a few at a time without stalling the event loop', {
    timeout: 180_000,
  }, async () => {
    const { allTokens } = await userWithManySessions()
    const token = await forgeLogoutToken(t.provider, 'bff-client', {
      claims: ({ sid: _sid, ...c }) => c,
    })
    await endpoint.current.reset()
    const watch = watchEventLoop(`${t.broker.url}/healthz`)
    const started = performance.now()
    const response = await postLogoutToken(t.broker.url, token)
    const answerMs = performance.now() - started
    const revokedAtAnswer = (await endpoint.current.stats()).total
    expect(response.status).toBe(200)
    await expectDrained('back-channel logout (sub only)', {
      answerMs,
      revokedAtAnswer,
      watch,
      allTokens,
    })
  })

  it('the CLI’s revoke-all deletes 5,000 sessions a batch at a time, and the broker that hears of every one does not stall', {
    timeout: 180_000,
  }, async () => {
    await mintSessions(SESSIONS, { iss: t.provider.issuer, sub: 'user-cli' })
    await changeFeedLive(t.broker)
    const meter = await startRedisCommandMeter(inject('redisUrl'), {
      latencyMs: REDIS_LATENCY_MS,
    })
    try {
      const watch = watchEventLoop(`${t.broker.url}/healthz`)
      const run = await runCli(['revoke-all', 'user-cli'], {
        REDIS_URL: meter.url,
        REDIS_KEY_PREFIX: t.broker.store.keyPrefix,
        OIDC_ISSUER: t.provider.issuer,
      })
      const loop = await watch.stop()
      const redis = await meter.stats()
      report(
        'cli revoke-all',
        {
          exit: run.code,
          commands: redis.commands,
          peakCommandsInFlight: redis.peakInFlight,
          batchSize: DELETE_BATCH_SIZE,
        },
        loop,
      )
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      expect(run.stdout.trim()).toBe(
        `revoked ${SESSIONS} sessions of user-cli at ${t.provider.issuer}`,
      )
      expect(await userSessionCount('user-cli')).toBe(0)
      expect(redis.peakInFlight).toBeLessThanOrEqual(COMMANDS_PER_DELETE * DELETE_BATCH_SIZE)
      expectNoStall(loop)
    } finally {
      await meter.stop()
    }
  })
})
