import { describe, expect, it } from 'vitest'
import { createBff } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import {
  storedSessionOf,
  type TestBroker,
  testCookieSecrets,
  testTokenKeys,
} from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/*
 * Attack: an attacker with a dump of Redis (a backup, a replica, a misconfigured ACL). The
 * dump must yield no token and no cookie-usable session id.
 */
describe('a Redis dump yields nothing usable', () => {
  const t = useScriptedBroker()

  /** Every key and value under this broker's prefix, as the attacker's dump would have them. */
  async function dump(): Promise<string> {
    const redis = t.broker.store.redis
    const keys = await redis.keys(`${t.broker.store.keyPrefix}*`)
    const parts: string[] = [...keys]
    for (const key of keys) {
      const type = await redis.type(key)
      if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)))
      else if (type === 'string') parts.push((await redis.get(key)) ?? '')
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)))
    }
    return parts.join('\n')
  }

  it('holds the token fields only as AES-256-GCM ciphertext, and no session id', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookie('__Host-bff-session')?.value
    const { key, session } = await storedSessionOf(t.broker, cookie)
    const raw = await t.broker.store.redis.hget(t.broker.store.redisKeyOfSession(key), 'd')
    const stored = JSON.parse(raw ?? '{}') as { tokens: Record<string, string> }
    expect(stored.tokens.accessToken).toMatch(/^v1\.1\./)
    expect(stored.tokens.refreshToken).toMatch(/^v1\.1\./)
    expect(stored.tokens.idToken).toMatch(/^v1\.1\./)
    const everything = await dump()
    for (const secret of [
      session?.tokens.accessToken,
      session?.tokens.refreshToken,
      session?.tokens.idToken,
      cookie,
    ]) {
      expect(secret).toBeTruthy()
      expect(everything).not.toContain(secret)
    }
    const { unsealData } = await import('iron-session')
    const password = { 1: t.broker.bff.config.cookieSecrets[0]?.secret ?? '' }
    const { sid } = await unsealData<{ sid: string }>(cookie ?? '', { password })
    expect(everything).not.toContain(sid)
  })

  it('keeps the tokens encrypted after a refresh rewrote them', async () => {
    // A one-second access token is due for refresh at half its life.
    t.provider.script.tokenResponse = (d) => ({ ...d, expires_in: 1 })
    const { browser } = await t.signIn()
    t.provider.script.tokenResponse = undefined
    const cookie = browser.cookie('__Host-bff-session')?.value
    const before = await storedSessionOf(t.broker, cookie)
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect((await t.apiCall(browser, '/api/echo/after-refresh')).status).toBe(200)
    const after = await storedSessionOf(t.broker, cookie)
    expect(after.session?.version).toBe((before.session?.version ?? 0) + 1)
    expect(after.session?.tokens.refreshToken).not.toBe(before.session?.tokens.refreshToken)
    const everything = await dump()
    expect(everything).not.toContain(after.session?.tokens.refreshToken)
    expect(everything).not.toContain(after.session?.tokens.accessToken)
  })

  it('ends a session whose tokens were swapped in from another session (401, cookie cleared)', async () => {
    const { browser: victim } = await t.signIn()
    const { browser: attacker } = await t.signIn()
    const v = await storedSessionOf(t.broker, victim.cookie('__Host-bff-session')?.value)
    const a = await storedSessionOf(t.broker, attacker.cookie('__Host-bff-session')?.value)
    const redis = t.broker.store.redis
    // The attacker copies their own (encrypted) record over the victim's.
    const store = t.broker.store
    await redis.hset(
      store.redisKeyOfSession(v.key),
      'd',
      (await redis.hget(store.redisKeyOfSession(a.key), 'd')) ?? '',
    )
    const response = await t.apiCall(victim, '/api/echo/x')
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'session_expired' })
    expect(t.upstream.requests).toHaveLength(0)
  })
})

describe('token encryption keys in configuration', () => {
  it('are required when REDIS_URL is set', () => {
    expect(() =>
      createBff(
        {
          publicUrl: 'https://app.example',
          issuer: 'https://idp.example',
          clientId: 'c',
          clientSecret: 's',
          cookieSecrets: testCookieSecrets(),
          redisUrl: 'redis://127.0.0.1:1',
        },
        { logger: createLogger('silent') },
      ),
    ).toThrow(/tokenEncryptionKeys: expected at least one key when REDIS_URL is set/)
  })

  it('are optional for a localhost development setup with Redis (the broker warns instead)', async () => {
    const bff = createBff(
      {
        publicUrl: 'http://localhost:3000',
        issuer: 'https://idp.example',
        clientId: 'c',
        clientSecret: 's',
        cookieSecrets: testCookieSecrets(),
        redisUrl: 'redis://127.0.0.1:1',
      },
      { logger: createLogger('silent') },
    )
    expect(bff.config.tokenEncryptionKeys).toEqual([])
    await bff.close()
  })
})

describe('token encryption key rotation', () => {
  const oldKey = testTokenKeys(1)
  const newKey = testTokenKeys(2)
  const cookieSecrets = testCookieSecrets()
  const t = useScriptedBroker({ tokenEncryptionKeys: oldKey, cookieSecrets })
  const sibling = (tokenEncryptionKeys: { id: number; key: string }[]) =>
    t.sibling({ tokenEncryptionKeys })

  const userStatus = (broker: TestBroker, cookie: string) =>
    fetch(`${broker.url}/auth/user`, { headers: { cookie } }).then((r) => r.status)

  it('keeps old sessions working after a new key is added, and ends them cleanly (401) once the old key is removed', async () => {
    const { browser } = await t.signIn()
    const cookie = browser.cookieHeaderFor(t.broker.url)
    const rotated = await sibling([...oldKey, ...newKey])
    expect(await userStatus(rotated, cookie)).toBe(200)
    const oldRemoved = await sibling(newKey)
    const response = await fetch(`${oldRemoved.url}/auth/user`, { headers: { cookie } })
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'session_expired' })
  })

  it('writes new sessions under the newest key', async () => {
    const rotated = await sibling([...oldKey, ...newKey])
    const browser = new HttpBrowser()
    await browser.follow(`${rotated.url}/auth/login`, { initiator: rotated.url })
    const { key } = await storedSessionOf(rotated, browser.cookie('__Host-bff-session')?.value)
    const raw = await rotated.store.redis.hget(rotated.store.redisKeyOfSession(key), 'd')
    expect(JSON.parse(raw ?? '{}').tokens.refreshToken).toMatch(/^v1\.2\./)
  })
})
