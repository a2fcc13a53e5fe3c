import { afterEach, describe, expect, it, vi } from 'vitest'
import { createBff } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import { MemorySessionStore } from '../../src/store/memory-session-store.js'
import { storedSessionOf, testCookieSecrets } from '../support/broker.js'
import { useScriptedBroker } from '../support/scripted-broker.js'
import {
  type IdTokenPlan,
  type ScriptedProvider,
  startScriptedProvider,
} from '../support/scripted-provider.js'

const now = () => Math.floor(Date.now() / 1000)

/*
 * Each row is an ID token a hostile or broken provider might return at the callback.
 * The broker must refuse it with the readable error page and store nothing.
 */
const hostile: [string, IdTokenPlan][] = [
  ['alg none', { sign: 'none' }],
  ['HS256 signed with the provider public key', { sign: 'hs256-with-public-key' }],
  ['a signature by another key under the same kid', { sign: 'rs256-wrong-key' }],
  ['a garbage signature', { sign: 'garbage-signature' }],
  ['an RS384 header over an RS256 signature', { header: (h) => ({ ...h, alg: 'RS384' }) }],
  ['an unknown kid', { header: (h) => ({ ...h, kid: 'no-such-key' }) }],
  [
    'a jku header pointing elsewhere and a bad signature',
    { sign: 'rs256-wrong-key', header: (h) => ({ ...h, jku: 'http://evil.test/jwks' }) },
  ],
  ['the wrong nonce', { claims: (c) => ({ ...c, nonce: 'not-the-nonce' }) }],
  ['no nonce', { claims: ({ nonce: _n, ...c }) => c }],
  ['no audience', { claims: ({ aud: _a, ...c }) => c }],
  ['the wrong audience', { claims: (c) => ({ ...c, aud: 'someone-else' }) }],
  ['an untrusted extra audience', { claims: (c) => ({ ...c, aud: [c.aud, 'someone-else'] }) }],
  ['azp naming another client', { claims: (c) => ({ ...c, aud: [c.aud, 'other'], azp: 'other' }) }],
  ['the wrong issuer', { claims: (c) => ({ ...c, iss: 'http://evil.test' }) }],
  ['an expiry in the past', { claims: (c) => ({ ...c, exp: now() - 120 }) }],
  ['no expiry', { claims: ({ exp: _e, ...c }) => c }],
  ['no iat', { claims: ({ iat: _i, ...c }) => c }],
  ['an iat a week old', { claims: (c) => ({ ...c, iat: now() - 7 * 86400 }) }],
  ['no sub', { claims: ({ sub: _s, ...c }) => c }],
]

describe('ID token validation at the callback', () => {
  const t = useScriptedBroker()

  it('accepts the well-formed default token (control)', async () => {
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(200)
    expect(browser.cookie('__Host-bff-session')).toBeDefined()
  })

  it.each(hostile)('refuses %s and stores nothing', async (_name, plan) => {
    const before = await t.sessionKeys()
    t.provider.script.idToken = plan
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(400)
    const html = await response.text()
    expect(html).toContain('login_failed')
    expect(html).not.toMatch(/at .*\.(ts|js):\d+/)
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect(await t.sessionKeys()).toEqual(before)
    expect(t.provider.calls.userinfo).toBe(0)
  })

  it('refuses an ID token missing from the token response', async () => {
    t.provider.script.tokenResponse = ({ id_token: _id, ...rest }) => rest
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(400)
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
  })

  it('answers a provider token endpoint outage with 503 and Retry-After, not 500', async () => {
    t.provider.script.tokenResponse = () => ({
      status: 502,
      body: '<html>bad gateway</html>',
      contentType: 'text/html',
    })
    const { response } = await t.signIn()
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBeTruthy()
  })
})

describe('ID token header tricks at the callback', () => {
  const t = useScriptedBroker()

  it.each<[string, (p: ScriptedProvider) => IdTokenPlan]>([
    [
      'an x5u header pointing elsewhere',
      () => ({
        sign: 'rs256-wrong-key',
        header: (h) => ({ ...h, x5u: 'http://evil.test/cert.pem' }),
      }),
    ],
    [
      'a jwk header embedding the key that signed it',
      (p) => ({
        sign: 'rs256-wrong-key',
        header: (h) => ({ ...h, kid: p.keys.rogue.kid, jwk: p.keys.rogue.publicJwk }),
      }),
    ],
    [
      'an x5c header with a certificate chain of its own',
      () => ({ sign: 'rs256-wrong-key', header: (h) => ({ ...h, x5c: ['MIIBfake'] }) }),
    ],
    [
      'an ES256 header over a garbage signature',
      (p) => ({
        sign: 'garbage-signature',
        header: (h) => ({ ...h, alg: 'ES256', kid: p.keys.ec.kid }),
      }),
    ],
    [
      'an ES256 header over an RSA signature',
      (p) => ({ sign: 'rs256', header: (h) => ({ ...h, alg: 'ES256', kid: p.keys.ec.kid }) }),
    ],
    ['a kid of 10 000 characters', () => ({ header: (h) => ({ ...h, kid: 'k'.repeat(10_000) }) })],
    ['a path-traversal kid', () => ({ header: (h) => ({ ...h, kid: '../../../../etc/passwd' }) })],
    ['a kid that is not a string', () => ({ header: (h) => ({ ...h, kid: { $ne: null } }) })],
    [
      'an HS256 header with the public JWK as the secret',
      () => ({ sign: 'hs256-with-public-key', header: (h) => ({ ...h, kid: undefined }) }),
    ],
  ])('refuses %s, stores nothing and fetches nothing the header names', async (_name, plan) => {
    const before = await t.sessionKeys()
    t.provider.script.idToken = plan(t.provider)
    const { browser, response } = await t.signIn()
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('login_failed')
    expect(browser.cookie('__Host-bff-session')).toBeUndefined()
    expect(await t.sessionKeys()).toEqual(before)
  })

  it('accepts an ES256 token signed by the published EC key (control)', async () => {
    t.provider.script.idToken = { sign: 'es256' }
    const { response } = await t.signIn()
    expect(response.status).toBe(200)
  })
})

describe('the provider’s key set (JWKS) under attack and rotation', () => {
  // openid-client (oauth4webapi) caches the JWKS for at most 5 minutes and refetches it for
  // an unknown kid only when the cached copy is at least 60 s old: that is the cooldown.
  const t = useScriptedBroker()
  afterEach(() => {
    vi.useRealTimers()
  })
  const later = (seconds: number) => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true })
    vi.setSystemTime(Date.now() + seconds * 1000)
  }

  it('refuses a flood of random kids with at most one JWKS fetch per cooldown', async () => {
    expect((await t.signIn()).response.status).toBe(200)
    const fetchedAtStart = t.provider.calls.jwks
    for (let i = 0; i < 20; i++) {
      t.provider.script.idToken = { header: (h) => ({ ...h, kid: `random-${i}-${Math.random()}` }) }
      expect((await t.signIn()).response.status).toBe(400)
    }
    expect(t.provider.calls.jwks - fetchedAtStart).toBe(0)
    later(61)
    for (let i = 0; i < 20; i++) {
      t.provider.script.idToken = { header: (h) => ({ ...h, kid: `later-${i}-${Math.random()}` }) }
      expect((await t.signIn()).response.status).toBe(400)
    }
    // One refetch for the first unknown kid after the cooldown, then refusals from the cache.
    expect(t.provider.calls.jwks - fetchedAtStart).toBe(1)
  })

  it('accepts a key the provider rotated in, after one refetch', async () => {
    later(2 * 61)
    const { rsa, ec, rogue } = t.provider.keys
    const rotated = { keys: [rsa.publicJwk, ec.publicJwk, rogue.publicJwk] }
    const signedByNewKey: IdTokenPlan = {
      sign: 'rs256-wrong-key',
      header: (h) => ({ ...h, kid: rogue.kid }),
    }
    t.provider.script = { jwks: () => rotated, idToken: signedByNewKey }
    const { response } = await t.signIn()
    expect(response.status).toBe(200)
    expect(t.provider.calls.jwks).toBe(1)
    // The next login with the new key uses the cache.
    t.provider.script = { jwks: () => rotated, idToken: signedByNewKey }
    expect((await t.signIn()).response.status).toBe(200)
    expect(t.provider.calls.jwks).toBe(1)
  })
})

describe('ID tokens returned by a refresh', () => {
  let offset = 0
  const t = useScriptedBroker({}, { clock: { now: () => Date.now() + offset } })

  /** Signs in, then moves the broker's clock past the access token's expiry. */
  async function expiredSession() {
    const { browser } = await t.signIn()
    offset += 301_000
    return browser
  }

  const onRefresh =
    (plan: IdTokenPlan) =>
    ({ grantType }: { grantType: string }): IdTokenPlan =>
      grantType === 'refresh_token' ? plan : {}

  it.each<[string, IdTokenPlan]>([
    ['a changed sub', { claims: (c) => ({ ...c, sub: 'user-2' }) }],
    ['a changed iss', { claims: (c) => ({ ...c, iss: 'http://evil.test' }) }],
    ['a changed aud', { claims: (c) => ({ ...c, aud: 'someone-else' }) }],
    ['an untrusted extra audience', { claims: (c) => ({ ...c, aud: [c.aud, 'someone-else'] }) }],
    ['alg none', { sign: 'none' }],
    ['a bad signature', { sign: 'rs256-wrong-key' }],
    ['an expiry in the past', { claims: (c) => ({ ...c, exp: now() - 120 }) }],
  ])(
    'ends the session on %s: 401 session_expired, nothing stored, no upstream call',
    async (_name, plan) => {
      const browser = await expiredSession()
      const cookie = browser.cookie('__Host-bff-session')?.value
      const { key } = await storedSessionOf(t.broker, cookie)
      t.provider.script.idToken = onRefresh(plan)
      const response = await t.apiCall(browser, '/api/echo/x')
      expect(response.status).toBe(401)
      expect(await response.json()).toMatchObject({ error: 'session_expired' })
      expect(t.provider.tokenRequests.filter((r) => r.grantType === 'refresh_token')).toHaveLength(
        1,
      )
      expect(t.upstream.requests).toHaveLength(0)
      expect(await t.broker.store.getSession(key)).toBeNull()
    },
  )

  it('accepts a refreshed ID token naming the same user (control)', async () => {
    const browser = await expiredSession()
    expect((await t.apiCall(browser, '/api/echo/x')).status).toBe(200)
  })
})

describe('a provider whose discovery names another issuer', () => {
  it('makes bff.ready() reject with provider_misconfigured, so the broker refuses to start', async () => {
    const provider = await startScriptedProvider({ clientId: 'bff-client' })
    provider.script.metadata = (m) => ({ ...m, issuer: 'https://impostor.example' })
    const bff = createBff(
      {
        publicUrl: 'http://127.0.0.1:1',
        issuer: provider.issuer,
        clientId: 'bff-client',
        clientSecret: 'scripted-secret',
        cookieSecrets: testCookieSecrets(),
        dangerouslyAllowHttpIssuer: true,
      },
      { store: new MemorySessionStore(), logger: createLogger('silent') },
    )
    try {
      await expect(bff.ready()).rejects.toMatchObject({
        code: 'provider_misconfigured',
        detail: expect.stringContaining('https://impostor.example'),
      })
      expect(provider.calls.jwks).toBe(0)
    } finally {
      await bff.close()
      await provider.stop()
    }
  })
})
