import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import type { SessionData } from '../../src/session/types.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { freePort } from '../support/free-port.js'
import { runCli as cli } from '../support/sessions-cli.js'

const ISS = 'https://idp.example'

function session(sub: string, sid: string): SessionData {
  const now = Date.now()
  return {
    iss: ISS,
    sub,
    sid,
    claims: { name: sub },
    tokens: {
      accessToken: `secret-access-${randomId(8)}`,
      tokenType: 'Bearer',
      accessTokenExpiresAt: now + 60_000,
      obtainedAt: now,
      refreshToken: `secret-refresh-${randomId(8)}`,
      idToken: `secret-id-${randomId(8)}`,
    },
    createdAt: now - 60_000,
    absoluteExpiresAt: now + 3_600_000,
  }
}

describe('the sessions CLI against a real Redis', () => {
  let store: RedisSessionStore
  let env: Record<string, string>
  const seeded: Record<string, { key: string; data: SessionData }> = {}

  beforeAll(async () => {
    const prefix = `cli-${randomId(6)}:`
    store = new RedisSessionStore({ url: inject('redisUrl'), keyPrefix: prefix })
    await store.ping()
    env = { REDIS_URL: inject('redisUrl'), REDIS_KEY_PREFIX: prefix, OIDC_ISSUER: ISS }
  })
  beforeEach(async () => {
    const keys = await store.redis.keys(`${store.keyPrefix}*`)
    if (keys.length > 0) await store.redis.del(...keys)
    for (const [name, sub, sid] of [
      ['laptop', 'alice', 'sid-1'],
      ['phone', 'alice', 'sid-2'],
      ['bob', 'bob', 'sid-3'],
    ] as const) {
      const key = randomId()
      const data = session(sub, sid)
      await store.indexSession(key, { iss: ISS, sub, sid }, 600_000)
      await store.createSession(key, data, Date.now(), 600_000)
      seeded[name] = { key, data }
    }
  })
  afterAll(async () => {
    await store?.close()
  })

  const keyOf = (name: string) => seeded[name]?.key ?? ''
  const secretsOf = (name: string) => {
    const tokens = seeded[name]?.data.tokens
    return [tokens?.accessToken, tokens?.refreshToken, tokens?.idToken] as string[]
  }

  it('lists a user’s sessions with key prefix, times and expiry, never a token', async () => {
    const run = await cli(['list', 'alice'], env)
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^KEY\s+CREATED\s+LAST SEEN\s+EXPIRES \(IDLE\)\s+ABSOLUTE EXPIRY$/)
    expect(lines).toHaveLength(3)
    for (const name of ['laptop', 'phone']) {
      const line = lines.find((l) => l.startsWith(keyOf(name).slice(0, 12)))
      expect(line).toMatch(/^[\w-]{12}( +\d{4}-\d\d-\d\dT[\d:.]+Z){4}$/)
    }
    expect(run.stdout).not.toContain(keyOf('bob').slice(0, 12))
    for (const secret of [...secretsOf('laptop'), ...secretsOf('phone')]) {
      expect(run.stdout).not.toContain(secret)
    }
  })

  it('lists by an explicit issuer and says so when there is nothing', async () => {
    const run = await cli(['list', 'alice', '--iss', 'https://other.example'], env)
    expect(run.code).toBe(0)
    expect(run.stdout.trim()).toBe('no sessions for alice at https://other.example')
  })

  it('revokes one session by its key prefix and leaves the others', async () => {
    const run = await cli(['revoke', keyOf('laptop').slice(0, 10)], env)
    expect(run.code).toBe(0)
    expect(run.stdout.trim()).toBe(`revoked session ${keyOf('laptop').slice(0, 12)} of alice`)
    expect(await store.getSession(keyOf('laptop'))).toBeNull()
    expect(await store.getSession(keyOf('phone'))).not.toBeNull()
    expect(await store.getSession(keyOf('bob'))).not.toBeNull()
  })

  it('fails with exit code 1 when no session has that key prefix', async () => {
    const run = await cli(['revoke', 'AAAAAAAAAAAA'], env)
    expect(run.code).toBe(1)
    expect(run.stderr.trim()).toBe('error: no session starts with AAAAAAAAAAAA')
  })

  it('revokes every session of a user and no one else’s', async () => {
    const run = await cli(['revoke-all', 'alice'], env)
    expect(run.code).toBe(0)
    expect(run.stdout.trim()).toBe(`revoked 2 sessions of alice at ${ISS}`)
    expect(await store.getSession(keyOf('laptop'))).toBeNull()
    expect(await store.getSession(keyOf('phone'))).toBeNull()
    expect(await store.getSession(keyOf('bob'))).not.toBeNull()
  })

  it('exits 2 without an issuer from --iss or OIDC_ISSUER', async () => {
    const { OIDC_ISSUER: _iss, ...noIssuer } = env
    const run = await cli(['list', 'alice'], noIssuer)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('pass --iss <issuer> or set OIDC_ISSUER')
  })

  it('exits 2 naming REDIS_URL when it is missing', async () => {
    const run = await cli(['list', 'alice'], { OIDC_ISSUER: ISS })
    expect(run.code).toBe(2)
    expect(run.stderr.trim()).toMatch(/^config error: REDIS_URL: expected/)
  })

  it('exits 1 with one line when Redis cannot be reached', async () => {
    const run = await cli(['list', 'alice'], {
      ...env,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    })
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toMatch(/^error: redis not ready/)
  })

  it('prints the usage with help', async () => {
    const run = await cli(['help'], {})
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('revoke-all <sub>')
  })
})

// Bad arguments never reach Redis, so these run side by side.
describe('the sessions CLI with bad arguments', () => {
  it.concurrent.each<[string, string[]]>([
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['list without a subject', ['list']],
    ['list with two subjects', ['list', 'alice', 'bob']],
    ['--iss without a value', ['list', 'alice', '--iss']],
    ['--iss that is not a URL', ['list', 'alice', '--iss', 'idp']],
    ['an unknown option', ['list', 'alice', '--all']],
    ['a key prefix shorter than 8 characters', ['revoke', 'abc']],
    ['a key prefix with glob characters', ['revoke', 'abcdefgh*']],
    ['revoke-all without a subject', ['revoke-all']],
  ])('exits 2 with one line on stderr for %s', async (_name, args) => {
    const run = await cli(args, { REDIS_URL: inject('redisUrl') })
    expect(run.code).toBe(2)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toMatch(/^error: .+\(npm run sessions -- help\)\n$/)
    expect(run.stdout).toBe('')
  })
})
