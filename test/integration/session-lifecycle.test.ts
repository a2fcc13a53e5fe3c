import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { randomId } from '../../src/lib/random.js'
import { RedisSessionStore } from '../../src/store/redis-session-store.js'
import {
  reserveBrokerUrl,
  startBroker,
  storedSessionOf,
  type TestBroker,
  testCookieSecrets,
  testTokenKeys,
} from '../support/broker.js'
import { HttpBrowser } from '../support/http-browser.js'
import { startTestProvider, type TestProvider } from '../support/provider.js'
import { until } from '../support/until.js'

/*
 * Real parts: oidc-provider (on `localhost`, another site) with back-channel logout, and two
 * broker instances behind one public URL sharing one Redis key prefix, as behind a load
 * balancer. Each instance caches sessions it has served (SESSION_CACHE_SECONDS); the tests
 * warm instance two's cache before ending a session, so "at once" includes its cache.
 */
describe('session lifecycle across two broker instances and a real provider', () => {
  let provider: TestProvider
  let one: TestBroker
  let two: TestBroker
  let twoUrl: string
  const prefix = `lifecycle-${randomId(6)}:`

  beforeAll(async () => {
    const publicAddress = await reserveBrokerUrl()
    const secondAddress = await reserveBrokerUrl()
    twoUrl = secondAddress.url
    provider = await startTestProvider({
      publicHost: 'localhost',
      redirectUri: `${publicAddress.url}/auth/callback`,
      backchannelLogoutUri: `${publicAddress.url}/auth/backchannel-logout`,
    })
    const options = {
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      cookieSecrets: testCookieSecrets(),
      tokenEncryptionKeys: testTokenKeys(),
      publicUrl: publicAddress.url,
      // oidc-provider takes POST at end_session only with SameSite=None (so Secure, so https)
      // cookies, and this provider is plain http on another site: the GET fallback. The POST
      // form against a real oidc-provider over https runs in e2e/sign-out.spec.ts.
      endSessionMethod: 'get' as const,
    }
    const sharedStore = () => new RedisSessionStore({ url: inject('redisUrl'), keyPrefix: prefix })
    one = await startBroker(publicAddress, options, { store: sharedStore() })
    two = await startBroker(secondAddress, options, { store: sharedStore() })
  })

  afterAll(async () => {
    await two?.stop()
    await one?.stop()
    await provider?.stop()
  })

  async function signIn(username = 'alice') {
    const browser = new HttpBrowser()
    const user = provider.users[username]
    if (!user) throw new Error(`no dev user ${username}`)
    await browser.login({ brokerUrl: one.url, username, password: user.password })
    return browser
  }

  /** /auth/user through one instance; the browser's cookie is the same for both (one public URL). */
  async function userStatus(browser: HttpBrowser, instanceUrl: string) {
    const response = await browser.request(`${instanceUrl}/auth/user`, {
      kind: 'fetch',
      initiator: one.url,
    })
    return response.status
  }

  async function endSessionEndpoint() {
    const metadata = await (
      await fetch(`${provider.issuer}/.well-known/openid-configuration`)
    ).json()
    return metadata.end_session_endpoint as string
  }

  it('serves one session from both instances', async () => {
    const browser = await signIn()
    expect(await userStatus(browser, one.url)).toBe(200)
    expect(await userStatus(browser, twoUrl)).toBe(200)
  })

  /** Serves the session from instance two twice, so the second answer comes from its cache. */
  async function warmTwo(browser: HttpBrowser) {
    expect(await userStatus(browser, twoUrl)).toBe(200)
    expect(await userStatus(browser, twoUrl)).toBe(200)
  }

  it('a logout token the provider sends to one instance ends the session on both at once', async () => {
    const browser = await signIn()
    await warmTwo(browser)
    const { key } = await storedSessionOf(one, browser.cookie('__Host-bff-session')?.value)
    const before = provider.counts().backchannelLogouts
    // The user signs out at the provider itself (not through the broker).
    await browser.confirmProviderLogout(await endSessionEndpoint())
    await until(() => provider.counts().backchannelLogouts === before + 1, 'backchannel.success')
    expect(provider.counts().backchannelErrors).toBe(0)
    expect(await userStatus(browser, twoUrl)).toBe(401)
    expect(await userStatus(browser, one.url)).toBe(401)
    expect(await one.store.getSession(key)).toBeNull()
  })

  it('a logout token for one provider session leaves the user’s other sessions alone', async () => {
    const laptop = await signIn()
    const phone = await signIn()
    await warmTwo(laptop)
    await warmTwo(phone)
    const before = provider.counts().backchannelLogouts
    await laptop.confirmProviderLogout(await endSessionEndpoint())
    await until(() => provider.counts().backchannelLogouts === before + 1, 'backchannel.success')
    expect(await userStatus(laptop, twoUrl)).toBe(401)
    expect(await userStatus(phone, twoUrl)).toBe(200)
  })

  it('a sign-out through one instance ends the session on the other at once, and the state round trip lands in the app', async () => {
    const browser = await signIn()
    const logout = await browser.request(`${twoUrl}/auth/logout`, {
      method: 'POST',
      initiator: one.url,
    })
    expect(logout.status).toBe(303)
    expect(await userStatus(browser, one.url)).toBe(401)
    const before = provider.counts().backchannelLogouts
    // The provider's confirmation, then its redirect back to /auth/signed-out with the state.
    const landing = await browser.confirmProviderLogout(logout.headers.get('location') ?? '', {
      stopAt: (url) => url.pathname === '/auth/signed-out',
    })
    expect(browser.lastUrl).toMatch(new RegExp(`^${one.url}/auth/signed-out\\?state=`))
    expect(landing.status).toBe(303)
    expect(landing.headers.get('location')).toBe('/')
    // The provider still tells the broker (nothing left to end: 200 all the same).
    await until(() => provider.counts().backchannelLogouts === before + 1, 'backchannel.success')
    expect(provider.counts().backchannelErrors).toBe(0)
  })

  it('sign out everywhere through one instance ends every session of the user on both', async () => {
    const laptop = await signIn()
    const phone = await signIn()
    await warmTwo(laptop)
    await warmTwo(phone)
    const bob = await signIn('bob')
    const logout = await laptop.request(`${one.url}/auth/logout?scope=all`, {
      method: 'POST',
      initiator: one.url,
    })
    expect(logout.status).toBe(303)
    for (const url of [one.url, twoUrl]) {
      expect(await userStatus(laptop, url)).toBe(401)
      expect(await userStatus(phone, url)).toBe(401)
      expect(await userStatus(bob, url)).toBe(200)
    }
  })

  it('indexes each session so the index outlives it and no longer than needed', async () => {
    const browser = await signIn()
    const { key } = await storedSessionOf(one, browser.cookie('__Host-bff-session')?.value)
    const redis = one.store.redis
    const sessionTtl = await redis.pttl(`${prefix}session:${key}`)
    const indexes = await redis.keys(`${prefix}idx:*`)
    expect(indexes.some((k) => k.includes(':idx:sid:{'))).toBe(true)
    expect(indexes.some((k) => k.includes(':idx:sub:{'))).toBe(true)
    for (const index of indexes) {
      const ttl = await redis.pttl(index)
      expect(ttl).toBeGreaterThanOrEqual(sessionTtl)
      expect(ttl).toBeLessThanOrEqual(one.bff.config.sessionIdleTimeoutSeconds * 1000 + 10_000)
    }
  })
})
