import { describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import type { SessionRecordStore } from '../../src/store/interfaces.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { createRedisStores } from '../../src/store/redis-stores.js'
import { storedSessionOf } from '../support/broker.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

/** Counts sliding renewals reaching Redis, around the real store. */
function countingStore(): { store: RedisSessionStore; touches: () => number } {
  const stores = createRedisStores({
    url: inject('redisUrl'),
    keyPrefix: `expiry-${randomId(4)}:`,
  })
  let touches = 0
  const sessions = new Proxy(stores.sessions, {
    get(target, prop, receiver) {
      if (prop === 'touchSession') {
        return (...args: Parameters<SessionRecordStore['touchSession']>) => {
          touches++
          return target.touchSession(...args)
        }
      }
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store: new RedisSessionStore({ ...stores, sessions }), touches: () => touches }
}

describe('idle and absolute session expiry', () => {
  let offset = 0
  const counting = countingStore()
  const t = useScriptedBroker(
    { sessionIdleTimeoutSeconds: 600, sessionAbsoluteTimeoutSeconds: 3600 },
    { clock: { now: () => Date.now() + offset }, store: counting.store },
  )
  const minutes = (n: number) => n * 60_000

  async function user(browser: Awaited<ReturnType<typeof t.signIn>>['browser']) {
    return t.apiCall(browser, '/auth/user')
  }

  it('ends a session idle longer than the idle timeout', async () => {
    offset = 0
    const { browser } = await t.signIn()
    offset = minutes(11)
    const response = await user(browser)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'session_expired' })
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
  })

  it('keeps an active session alive past the idle timeout (sliding)', async () => {
    offset = 0
    const { browser } = await t.signIn()
    for (const at of [4, 8, 12, 16]) {
      offset = minutes(at)
      expect((await user(browser)).status).toBe(200)
    }
  })

  it('ends an active session at the absolute timeout', async () => {
    offset = 0
    const { browser } = await t.signIn()
    for (let at = 9; at < 60; at += 9) {
      offset = minutes(at)
      expect((await user(browser)).status).toBe(200)
    }
    offset = minutes(61)
    const response = await user(browser)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'session_expired' })
  })

  it('does not write to the store on every request to renew the idle window', async () => {
    offset = 0
    const { browser } = await t.signIn()
    const before = counting.touches()
    for (let i = 0; i < 20; i++) expect((await user(browser)).status).toBe(200)
    expect(counting.touches() - before).toBe(0)
    offset = minutes(2)
    expect((await user(browser)).status).toBe(200)
    expect(counting.touches() - before).toBe(1)
  })

  it('reports the idle and absolute deadlines', async () => {
    offset = 0
    const { browser } = await t.signIn()
    const body = await (await user(browser)).json()
    const idle = Date.parse(body.sessionExpiresAt) - Date.now()
    const absolute = Date.parse(body.absoluteExpiresAt) - Date.now()
    expect(idle).toBeGreaterThan(minutes(9))
    expect(idle).toBeLessThanOrEqual(minutes(10))
    expect(absolute).toBeGreaterThan(minutes(59))
    expect(absolute).toBeLessThanOrEqual(minutes(60))
  })

  it('rewrites the back-channel indexes at each renewal, never shorter-lived than the session', async () => {
    offset = 0
    const { browser } = await t.signIn()
    const { key } = await storedSessionOf(t.broker, browser.cookie('__Host-bff-session')?.value)
    const { redis, keyPrefix } = t.broker.store
    // As if the session had been created before the indexes existed.
    await redis.del(...(await redis.keys(`${keyPrefix}idx:*`)))
    offset = minutes(2)
    expect((await user(browser)).status).toBe(200)
    const sessionTtl = await redis.pttl(`${keyPrefix}session:${key}`)
    const indexes = await redis.keys(`${keyPrefix}idx:*`)
    expect(indexes).toHaveLength(2)
    for (const index of indexes) expect(await redis.pttl(index)).toBeGreaterThanOrEqual(sessionTtl)
    const found = await t.broker.store.findSessions({ iss: t.provider.issuer, sid: 'sid-1' })
    expect(found).toContain(key)
  })
})
