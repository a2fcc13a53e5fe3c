import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import { reserveBrokerUrl, startBroker, type TestBroker } from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import { forgeLogoutToken, postLogoutToken } from '../support/logout-token.js'
import { useScriptedBroker } from '../support/scripted-broker.js'

const LIMIT = { limit: 3, windowSeconds: 60 }
/** A fresh client address per test, so tests sharing a broker do not share counters. */
const someClient = () => `198.51.${randomBytes(1)[0]}.${randomBytes(1)[0]}`

async function expect429(response: Response, json: boolean) {
  expect(response.status).toBe(429)
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
  expect(Number(response.headers.get('retry-after'))).toBeLessThanOrEqual(60)
  expect(response.headers.get('cache-control')).toBe('no-store')
  const body = await response.text()
  if (json) expect(JSON.parse(body)).toMatchObject({ error: 'rate_limited' })
  else expect(body).toContain('rate_limited')
}

describe('rate limits behind a trusted proxy', () => {
  const t = useScriptedBroker({
    trustedProxies: ['127.0.0.1/32'],
    rateLimitLogin: LIMIT,
    rateLimitCallback: LIMIT,
    rateLimitBackchannel: LIMIT,
    rateLimitApi: { limit: 5, windowSeconds: 60 },
  })
  const from = (client: string, extra: Record<string, string> = {}) => ({
    headers: { 'x-forwarded-for': client, ...extra },
  })

  it('answers the fourth sign-in start from one client 429 with Retry-After, and starts no transaction', async () => {
    const client = someClient()
    for (let i = 0; i < 3; i++) {
      const ok = await new HttpBrowser().request(`${t.broker.url}/auth/login`, from(client))
      expect(ok.status).toBe(302)
    }
    const browser = new HttpBrowser()
    await expect429(await browser.request(`${t.broker.url}/auth/login`, from(client)), false)
    expect(browser.cookies()).toEqual([])
    const other = await new HttpBrowser().request(`${t.broker.url}/auth/login`, from(someClient()))
    expect(other.status).toBe(302)
  })

  it('does not let a client escape its limit by writing its own X-Forwarded-For entries', async () => {
    const client = someClient()
    for (let i = 0; i < 3; i++) {
      await new HttpBrowser().request(
        `${t.broker.url}/auth/login`,
        from(`${someClient()}, ${client}`),
      )
    }
    const spoofed = from(`${someClient()}, ${client}`)
    await expect429(await new HttpBrowser().request(`${t.broker.url}/auth/login`, spoofed), false)
  })

  it('counts an IPv6 client by its /64, so rotating addresses inside it does not help', async () => {
    const net = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`
    for (let i = 1; i <= 3; i++) {
      const ok = await new HttpBrowser().request(`${t.broker.url}/auth/login`, from(`${net}::${i}`))
      expect(ok.status).toBe(302)
    }
    const rotated = from(`${net}:ffff:ffff:ffff:ffff`)
    await expect429(await new HttpBrowser().request(`${t.broker.url}/auth/login`, rotated), false)
    const otherNet = from(`${net.replace(/:1$/, ':2')}::1`)
    expect((await new HttpBrowser().request(`${t.broker.url}/auth/login`, otherNet)).status).toBe(
      302,
    )
  })

  it('refuses callbacks past the limit before consuming any transaction or redeeming a code', async () => {
    const client = someClient()
    for (let i = 0; i < 3; i++) {
      await new HttpBrowser().request(`${t.broker.url}/auth/callback?state=x&code=y`, from(client))
    }
    const response = await new HttpBrowser().request(
      `${t.broker.url}/auth/callback?state=x&code=y`,
      from(client),
    )
    await expect429(response, false)
    expect(t.provider.calls.token).toBe(0)
  })

  it('answers back-channel logout floods 429 JSON', async () => {
    const client = someClient()
    for (let i = 0; i < 3; i++) {
      await postLogoutToken(t.broker.url, 'not.a.jwt', from(client))
    }
    const token = await forgeLogoutToken(t.provider, 'bff-client')
    await expect429(await postLogoutToken(t.broker.url, token, from(client)), true)
  })

  it('limits /api per session: the sixth call is 429 and never reaches the upstream; other sessions go on', async () => {
    const { browser } = await t.signIn()
    const { browser: other } = await t.signIn()
    for (let i = 0; i < 5; i++)
      expect((await t.apiCall(browser, `/api/echo/${i}`)).status).toBe(200)
    await expect429(await t.apiCall(browser, '/api/echo/6'), true)
    expect(t.upstream.requests).toHaveLength(5)
    expect((await t.apiCall(other, '/api/echo/other')).status).toBe(200)
  })
})

describe('rate limits without trusted proxies', () => {
  const t = useScriptedBroker({ rateLimitLogin: LIMIT })

  it('counts by the TCP peer, so rotating X-Forwarded-For does not help', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await new HttpBrowser().request(`${t.broker.url}/auth/login`, {
        headers: { 'x-forwarded-for': someClient(), 'x-real-ip': someClient() },
      })
      expect(response.status).toBe(302)
    }
    const response = await new HttpBrowser().request(`${t.broker.url}/auth/login`, {
      headers: { 'x-forwarded-for': someClient(), 'x-real-ip': someClient() },
    })
    await expect429(response, false)
  })
})

describe('rate limits across instances', () => {
  const brokers: TestBroker[] = []
  const t = useScriptedBroker()
  afterAll(async () => {
    for (const broker of brokers) await broker.stop()
  })

  it('hold across two brokers sharing one Redis', async () => {
    const keyPrefix = `rl-shared-${randomId(4)}:`
    for (let i = 0; i < 2; i++) {
      const store = new RedisSessionStore({ url: inject('redisUrl'), keyPrefix })
      brokers.push(
        await startBroker(
          await reserveBrokerUrl(),
          {
            issuer: t.provider.issuer,
            clientId: 'bff-client',
            clientSecret: 'scripted-secret',
            rateLimitLogin: LIMIT,
          },
          { store },
        ),
      )
    }
    const statuses = []
    for (let i = 0; i < 4; i++) {
      const broker = brokers[i % 2] as TestBroker
      statuses.push((await new HttpBrowser().request(`${broker.url}/auth/login`)).status)
    }
    expect(statuses).toEqual([302, 302, 302, 429])
  })
})
